#!/usr/bin/env bash
# check.sh validates everything under deploy/ that can be checked without a
# cluster or a container engine:
#   - the alert rules and their unit tests (prometheus/check.sh, promtool)
#   - the Grafana dashboard: valid JSON, unique panel ids, and every PromQL
#     query parses (through promtool, with Grafana's variables substituted)
#   - every YAML file parses (python3 with PyYAML, apt-get install python3-yaml)
#   - the compose stack loads with the Compose specification's own loader
#     (compose/validate, its own Go module): mounts, secrets, profiles and
#     entrypoints, for the demo and without it
#   - the Helm chart (helm/chartcheck, its own Go module, Helm's Go packages):
#     `helm lint` and `helm template` of the main value sets, every object
#     decoded strictly into its Kubernetes API type, the chart's refusals, and
#     deploy/kubernetes equal to the chart's rendering (make manifests)
#   - the kustomization renders (kubectl kustomize, when kubectl is installed)
# Tools that are missing are skipped with a message, except promtool and
# python3 when CI=true.
set -euo pipefail

dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

need() { # need TOOL: false (and a message) when TOOL is missing outside CI
	if command -v "$1" >/dev/null 2>&1; then
		return 0
	fi
	if [[ "${CI:-}" == "true" ]]; then
		echo "$1 not found: required when CI=true" >&2
		exit 1
	fi
	echo "$1 not found: its checks skipped"
	return 1
}

"$dir/prometheus/check.sh"

if need python3; then
	python3 - "$dir/grafana/receiver-dashboard.json" "$tmp/dashboard-rules.yml" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
ids, lines = set(), ["groups:", "  - name: dashboard", "    rules:"]
subst = {"$__rate_interval": "5m", "$__range": "1h", "$job": ".*", "$instance": ".*", "$study_id": ".*"}
for p in d["panels"]:
    assert p["id"] not in ids, f"duplicate panel id {p['id']}"
    ids.add(p["id"])
    for t in p.get("targets", []):
        e = t["expr"]
        for k, v in subst.items():
            e = e.replace(k, v)
        assert "$" not in e, f"unknown variable in {p['title']!r}: {e}"
        lines += [f"      - record: dashboard:{p['id']}:{t['refId']}", "        expr: " + json.dumps(e)]
open(sys.argv[2], "w").write("\n".join(lines) + "\n")
print(f"dashboard: {len(d['panels'])} panels, JSON valid")
PY
	if command -v "${PROMTOOL:-promtool}" >/dev/null 2>&1; then
		"${PROMTOOL:-promtool}" check rules "$tmp/dashboard-rules.yml" >/dev/null
		echo "dashboard: every query parses"
	fi
	if python3 -c 'import yaml' 2>/dev/null; then
		python3 - "$dir" <<'PY'
import pathlib, sys, yaml
# Helm templates are Go templates, checked by rendering them (helm/chartcheck).
files = sorted(p for p in pathlib.Path(sys.argv[1]).rglob("*")
               if p.suffix in (".yml", ".yaml") and "templates" not in p.parts)
for f in files:
    list(yaml.safe_load_all(f.read_text()))
print(f"yaml: {len(files)} files parse")
PY
	else
		echo "python3 yaml module not found: YAML syntax checks skipped"
	fi
fi

if need go; then
	(cd "$dir/compose/validate" && go test -count=1 ./... >"$tmp/compose.txt" 2>&1) || { cat "$tmp/compose.txt"; exit 1; }
	echo "compose: compose.yaml loads (demo and production), every mount, secret and entrypoint found"
	(cd "$dir/helm/chartcheck" && go test -count=1 ./... >"$tmp/helm.txt" 2>&1) || { cat "$tmp/helm.txt"; exit 1; }
	echo "helm: chart lints and renders for every value set, objects decode strictly, deploy/kubernetes matches the chart"
fi

if command -v kubectl >/dev/null 2>&1; then
	kubectl kustomize "$dir/kubernetes" >/dev/null
	echo "kubernetes: kustomization renders"
else
	echo "kubectl not found: kustomize render skipped"
fi
