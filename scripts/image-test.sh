#!/usr/bin/env bash
# image-test.sh builds the image from the real Dockerfile with podman and runs
# it as a user would (make image-test; .ci/run runs it):
#   - the image's user is 65532 and the process runs as 65532
#   - the root filesystem is read-only; the data lives on the /data volume
#   - `receiver healthcheck` (the image's HEALTHCHECK) exits 0
#   - a signed webhook posted from outside (bin/receiver send) is answered 200
#   - SIGTERM drains and the container exits 0
#   - a new container on the same /data volume still has the event
#   - the image size is printed
#
# Image registries cannot be reached here, so the Dockerfile's two base images
# are replaced, through its GO_IMAGE and RUNTIME_IMAGE build arguments, by
# local stand-ins: the host's Go toolchain plus a static busybox for the
# build stage, and a distroless-like root (passwd/group with 65532, CA
# certificates, /tmp) for the runtime stage. The Dockerfile is not edited.
#
# podman setup that works on these machines: runc (crun fails on rlimits and
# cgroups), no default ulimits, the vfs storage driver, chroot isolation for
# builds, host networking (no bridge, no iptables changes) bound to loopback.
# Everything lives under IMAGE_TEST_DIR (default /var/tmp/receiver-image-test),
# so later runs reuse the stand-ins and the build cache.
#
# Skips (exit 0, with a message) only when podman is missing and cannot be
# installed, and then fails instead under CI=true.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"

say() { echo "image-test: $*"; }
fail() {
	echo "image-test: FAIL: $*" >&2
	if [[ -s ${work:-}/podman.log ]]; then tail -n 20 "$work/podman.log" >&2; fi
	exit 1
}

if ! command -v podman >/dev/null 2>&1 || ! command -v runc >/dev/null 2>&1; then
	if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null 2>&1; then
		say "installing podman, runc and busybox-static (Debian packages)"
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			podman runc busybox-static ca-certificates; } >/dev/null 2>&1 || true
	fi
	if ! command -v podman >/dev/null 2>&1 || ! command -v runc >/dev/null 2>&1; then
		[[ ${CI:-} != true ]] || fail "podman/runc not installed and not installable, and CI=true: CI must build and run the image"
		say "SKIP: podman/runc not installed and not installable here (apt-get install podman runc busybox-static); the image was not built or run"
		exit 0
	fi
fi
busybox=""
for b in /bin/busybox /usr/bin/busybox; do
	if [[ -x $b ]] && ! ldd "$b" >/dev/null 2>&1; then busybox=$b; fi
done
[[ -n $busybox ]] || fail "a static busybox is needed for the Go stand-in image (apt-get install busybox-static)"

work="${IMAGE_TEST_DIR:-/var/tmp/receiver-image-test}"
mkdir -p "$work"
# podman's own complaints (no systemd here for healthcheck timers) go to a log
# shown on failure.
: >"$work/podman.log"
cat >"$work/containers.conf" <<'EOF'
[containers]
default_ulimits = []
netns = "host"
[engine]
runtime = "runc"
EOF
cat >"$work/storage.conf" <<EOF
[storage]
driver = "vfs"
graphroot = "$work/storage"
runroot = "$work/run"
EOF
export CONTAINERS_CONF="$work/containers.conf" CONTAINERS_STORAGE_CONF="$work/storage.conf"
podman --version

goversion="$(go env GOVERSION)" # e.g. go1.26.8
go_image="localhost/receiver-image-test/golang:${goversion#go}"
runtime_image="localhost/receiver-image-test/static:nonroot"
image="localhost/prolific-receiver:image-test"
certs=/etc/ssl/certs/ca-certificates.crt
[[ -s $certs ]] || fail "$certs missing (apt-get install ca-certificates)"

# The Go stand-in: the host's toolchain, busybox for RUN's shell, CA
# certificates for the module proxy. Rebuilt when the Go version changes.
if ! podman image exists "$go_image"; then
	say "making $go_image from $(go env GOROOT) and $busybox"
	rootfs="$work/golang-rootfs"
	rm -rf "$rootfs"
	mkdir -p "$rootfs"/{bin,etc/ssl/certs,usr/local,go,tmp,root}
	chmod 1777 "$rootfs/tmp"
	cp -a "$(go env GOROOT)" "$rootfs/usr/local/go"
	# Only what builds a module's programs: vfs copies the whole root at every
	# build step, so the toolchain's tests, API lists and own sources go.
	(
		cd "$rootfs/usr/local/go"
		rm -rf test api doc misc src/cmd
		find src -name testdata -type d -prune -exec rm -rf {} +
		find src -name '*_test.go' -delete
		find pkg/tool -mindepth 2 -maxdepth 2 -type f \
			! -name compile ! -name link ! -name asm ! -name buildid ! -name cgo ! -name pack -delete
	)
	cp "$busybox" "$rootfs/bin/busybox"
	for app in $("$busybox" --list); do
		[[ -e $rootfs/bin/$app ]] || ln -s busybox "$rootfs/bin/$app"
	done
	cp "$certs" "$rootfs/etc/ssl/certs/ca-certificates.crt"
	printf 'root:x:0:0:root:/root:/bin/sh\n' >"$rootfs/etc/passwd"
	printf 'root:x:0:\n' >"$rootfs/etc/group"
	tar -C "$rootfs" -c . | podman import -q \
		--change 'ENV PATH=/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
		--change 'ENV GOPATH=/go' --change 'ENV GOTOOLCHAIN=local' \
		--change "ENV GOPROXY=$(go env GOPROXY)" --change "ENV GOSUMDB=$(go env GOSUMDB)" \
		--change 'WORKDIR /go' - "$go_image" >/dev/null
	rm -rf "$rootfs"
fi

# The distroless stand-in: users root and nonroot (65532), CA certificates,
# a sticky /tmp; no shell, no package manager.
if ! podman image exists "$runtime_image"; then
	say "making $runtime_image"
	rootfs="$work/static-rootfs"
	rm -rf "$rootfs"
	mkdir -p "$rootfs"/{etc/ssl/certs,tmp,home/nonroot}
	chmod 1777 "$rootfs/tmp"
	chown 65532:65532 "$rootfs/home/nonroot"
	cp "$certs" "$rootfs/etc/ssl/certs/ca-certificates.crt"
	printf 'root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$rootfs/etc/passwd"
	printf 'root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n' >"$rootfs/etc/group"
	tar -C "$rootfs" -c . | podman import -q --change 'USER 65532:65532' --change 'WORKDIR /home/nonroot' - "$runtime_image" >/dev/null
	rm -rf "$rootfs"
fi

# Earlier runs' untagged images (vfs keeps a full copy per layer); the Go
# module and build caches live in buildah's cache mounts and stay.
podman image prune -f >/dev/null 2>&1 || true

version="$(git describe --tags --always --dirty 2>/dev/null || echo dev)"
say "building $image from Dockerfile (version $version)"
start=$(date +%s)
podman build --pull=never --network host --isolation chroot --format docker \
	--build-arg GO_IMAGE="$go_image" --build-arg RUNTIME_IMAGE="$runtime_image" \
	--build-arg VERSION="$version" -t "$image" -f Dockerfile . >"$work/build.log" 2>&1 ||
	{ tail -n 40 "$work/build.log"; fail "podman build failed (log above)"; }
say "built in $(($(date +%s) - start))s"

# The project's own client, on the host: it posts from outside the container.
go build -o "$work/receiver-host" ./cmd/receiver

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
pub=$(free_port)
adm=$(free_port)
name="receiver-image-test-$$"
volume="receiver-image-test-data-$$"
secret_file="$work/webhook-secret"
(umask 022; head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$secret_file")

cleanup() {
	podman rm -f -t 0 "$name" >/dev/null 2>&1 || true
	podman volume rm -f "$volume" >/dev/null 2>&1 || true
	rm -f "$secret_file" "$work/receiver-host"
}
trap cleanup EXIT

start_container() {
	# --health-interval disable: no systemd timer (none here); the image's
	# HEALTHCHECK still runs with podman healthcheck run.
	podman run -d --name "$name" --network host --read-only --health-interval disable 2>>"$work/podman.log" \
		-v "$volume:/data" -v "$secret_file:/run/secrets/receiver/prolific-webhook-secret:ro" \
		-e RECEIVER_LISTEN_ADDR="127.0.0.1:$pub" -e RECEIVER_ADMIN_ADDR="127.0.0.1:$adm" \
		-e PROLIFIC_WEBHOOK_SECRET_FILE=/run/secrets/receiver/prolific-webhook-secret \
		-e RECEIVER_SHUTDOWN_TIMEOUT=10s -e RECEIVER_LOG_LEVEL=info \
		"$image" >/dev/null
	for _ in $(seq 1 100); do
		if curl -fsS -o /dev/null "http://127.0.0.1:$adm/readyz" 2>/dev/null; then
			return 0
		fi
		if [[ $(podman inspect -f '{{.State.Running}}' "$name") != true ]]; then
			podman logs "$name" 2>&1 | tail -n 20
			fail "the container stopped during start-up"
		fi
		sleep 0.2
	done
	podman logs "$name" 2>&1 | tail -n 20
	fail "not ready within 20s"
}

# 1. The image's configuration.
user=$(podman image inspect -f '{{.Config.User}}' "$image")
[[ $user == 65532:65532 ]] || fail "image user is $user, want 65532:65532"
[[ $(podman image inspect -f '{{range $k, $v := .Config.Volumes}}{{$k}} {{end}}' "$image") == *"/data"* ]] || fail "image declares no /data volume"
say "image user $user, /data a volume"

start_container
pid=$(podman inspect -f '{{.State.Pid}}' "$name")
uid=$(awk '/^Uid:/ {print $2}' "/proc/$pid/status")
[[ $uid == 65532 ]] || fail "the receiver runs as uid $uid, want 65532"
[[ $(podman inspect -f '{{.HostConfig.ReadonlyRootfs}}' "$name") == true ]] || fail "root filesystem not read-only"
say "running as uid $uid on a read-only root filesystem"

# 2. The healthcheck: the Dockerfile's HEALTHCHECK and the command directly.
podman healthcheck run "$name" 2>>"$work/podman.log" || fail "podman healthcheck run (the image's HEALTHCHECK) failed"
podman exec "$name" /usr/local/bin/receiver healthcheck || fail "receiver healthcheck exited $?"
say "receiver healthcheck exits 0"

# 3. A signed webhook from outside.
event_id="image-test-$(date +%s)-$$"
"$work/receiver-host" send -url "http://127.0.0.1:$pub/hooks/prolific" -secret-file "$secret_file" -event-id "$event_id" ||
	fail "the signed webhook was not answered 200"
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$adm/api/v1/events/$event_id")
[[ $code == 200 ]] || fail "GET /api/v1/events/$event_id = $code, want 200"
bad=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' --data '{}' "http://127.0.0.1:$pub/hooks/prolific")
[[ $bad == 401 ]] || fail "an unsigned webhook got $bad, want 401"
say "signed webhook 200 and stored; unsigned 401"

# 4. SIGTERM drains and exits 0.
podman kill --signal TERM "$name" >/dev/null 2>>"$work/podman.log"
status=$(podman wait "$name" 2>>"$work/podman.log")
[[ $status == 0 ]] || { podman logs "$name" 2>&1 | tail -n 20; fail "exit status after SIGTERM = $status, want 0"; }
podman logs "$name" >"$work/container.log" 2>&1
grep -q 'draining' "$work/container.log" || fail "no drain in the logs after SIGTERM"
say "SIGTERM: drained, exit 0"

# 5. A new container on the same volume keeps the data.
podman rm "$name" >/dev/null 2>>"$work/podman.log"
start_container
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$adm/api/v1/events/$event_id")
[[ $code == 200 ]] || fail "after a new container on the same /data volume GET /api/v1/events/$event_id = $code, want 200"
podman stop -t 15 "$name" >/dev/null 2>>"$work/podman.log"
[[ $(podman inspect -f '{{.State.ExitCode}}' "$name") == 0 ]] || fail "podman stop: exit code not 0"
say "the event survived a new container on the /data volume; podman stop exits 0"

size=$(podman image inspect -f '{{.Size}}' "$image")
say "image size $((size / 1024 / 1024)) MiB ($size bytes; $(podman image inspect -f '{{len .RootFS.Layers}}' "$image") layers)"
say "PASS"
