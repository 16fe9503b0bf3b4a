# Builds the same image as `make image` (hack/image) for users with a
# container engine and a registry: an empty base, /manager as entrypoint,
# the CA bundle, a world-writable /tmp, user 65532:65532, OCI labels.
FROM golang:1.26 AS builder
ARG TARGETOS
ARG TARGETARCH
ARG VERSION=v0.0.0-dev
ARG COMMIT=unknown

WORKDIR /workspace
# Download modules in their own layer so source changes do not re-download them.
COPY go.mod go.sum ./
RUN go mod download

COPY cmd/ cmd/
COPY api/ api/
COPY internal/ internal/

# GOARCH has no default so the image matches the platform it is built on;
# `docker buildx build --platform` sets TARGETOS/TARGETARCH for other platforms.
RUN CGO_ENABLED=0 GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH} \
    go build -trimpath -o /rootfs/manager \
    -ldflags="-s -w -X rolegate.dev/rolegate/internal/version.Version=${VERSION} -X rolegate.dev/rolegate/internal/version.Commit=${COMMIT}" \
    ./cmd
RUN mkdir -p /rootfs/etc/ssl/certs /rootfs/tmp && chmod 1777 /rootfs/tmp && \
    cp /etc/ssl/certs/ca-certificates.crt /rootfs/etc/ssl/certs/

FROM scratch
ARG VERSION=v0.0.0-dev
ARG COMMIT=unknown
ARG SOURCE_URL=https://rolegate.dev/rolegate
LABEL org.opencontainers.image.version=${VERSION} \
      org.opencontainers.image.revision=${COMMIT} \
      org.opencontainers.image.source=${SOURCE_URL} \
      org.opencontainers.image.title=rolegate-manager
COPY --from=builder /rootfs/ /
WORKDIR /
USER 65532:65532

ENTRYPOINT ["/manager"]
