# syntax=docker/dockerfile:1

# Build: docker build --build-arg VERSION=$(git describe --tags --always --dirty) -t prolific-receiver .
# The image holds every binary under ./cmd (receiver, and fake-prolific when present)
# in /usr/local/bin; the default command is `receiver serve`.

ARG GO_VERSION=1.26
# The two base images, replaceable without editing this file (make image-test
# builds with local stand-ins: --build-arg GO_IMAGE=... --build-arg RUNTIME_IMAGE=...).
ARG GO_IMAGE=golang:${GO_VERSION}
ARG RUNTIME_IMAGE=gcr.io/distroless/static-debian12:nonroot

FROM --platform=$BUILDPLATFORM ${GO_IMAGE} AS build
ARG TARGETOS
ARG TARGETARCH
ARG VERSION=dev
WORKDIR /src
ENV CGO_ENABLED=0 GOFLAGS=-mod=readonly
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    mkdir -p /out \
    && GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH:-amd64} \
       go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/ ./cmd/... \
    && test -x /out/receiver
# The data directory is created here because the runtime image has no shell.
RUN mkdir -p /rootfs/data && chown 65532:65532 /rootfs/data && chmod 0750 /rootfs/data

FROM ${RUNTIME_IMAGE}
ARG VERSION=dev
LABEL org.opencontainers.image.title="prolific-receiver" \
      org.opencontainers.image.description="Receives, verifies and stores Prolific webhooks; exports study progress as Prometheus metrics" \
      org.opencontainers.image.version="${VERSION}"
COPY --from=build /out/ /usr/local/bin/
COPY --from=build --chown=65532:65532 /rootfs/data /data
ENV RECEIVER_LISTEN_ADDR=:8080 \
    RECEIVER_ADMIN_ADDR=:9090 \
    RECEIVER_STORE=sqlite:/data/receiver.db
# 8080: public webhook listener (POST /hooks/prolific).
# 9090: admin listener (/healthz, /readyz, /metrics, /api/v1, dashboard); keep it private.
EXPOSE 8080 9090
VOLUME ["/data"]
USER 65532:65532
# The image has no shell or curl: the binary checks its own /readyz.
# Kubernetes probes GET :9090/readyz and :9090/healthz directly instead.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["/usr/local/bin/receiver", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/receiver"]
CMD ["serve"]
