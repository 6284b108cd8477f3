#!/usr/bin/env bash
# check.sh validates the Prometheus alert rules and runs their unit tests.
#
# Usage: deploy/prometheus/check.sh   (from any directory)
# Needs promtool (Debian/Ubuntu: apt-get install prometheus). Without it the
# checks are skipped with exit 0, except when CI=true, where a missing promtool
# is an error so the tests cannot silently stop running.
set -euo pipefail

dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
promtool="${PROMTOOL:-promtool}"

if ! command -v "$promtool" >/dev/null 2>&1; then
	if [[ "${CI:-}" == "true" ]]; then
		echo "promtool not found: install it (apt-get install prometheus) or set PROMTOOL" >&2
		exit 1
	fi
	echo "promtool not found: rule tests skipped"
	exit 0
fi

"$promtool" check rules "$dir/alerts.yml"
"$promtool" check config --syntax-only "$dir/prometheus.yml"
"$promtool" test rules "$dir/alerts_test.yml"
