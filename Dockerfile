# Switchboard's container image: a static binary on distroless, run as a non-root user, data in
# the /data volume.
#
#   make docker                       (docker build --build-arg VERSION=$(git describe) -t switchboard:VERSION .)
#   docker run -d --name switchboard --network host \
#     -v switchboard-data:/data -v $PWD/switchboard.yaml:/etc/switchboard/switchboard.yaml:ro switchboard:VERSION
#
# The config is yours to mount (contrib/docker/switchboard.yaml is a start, in the image as
# /etc/switchboard/switchboard.example.yaml): it must say data_dir: /data, listen on 0.0.0.0,
# and give media.address as the address phones reach the host at. --network host is simplest
# for SIP and RTP; with published ports instead, publish the RTP range too (-p 20000-20199:20000-20199/udp)
# and keep media.rtp_ports to that range. README.md, "Packaging", tells more.

# The web phone's SIP client: JsSIP from npm at the lockfile's versions, bundled by esbuild
# with the same script make web runs.
FROM --platform=$BUILDPLATFORM node:22-bookworm-slim AS web
WORKDIR /src/web/phone
COPY web/phone/package.json web/phone/package-lock.json web/phone/entry.js ./
RUN npm ci --no-audit --no-fund --loglevel=error && OUT=/out/jssip.js npm run --silent bundle

# The builder runs on the build machine's platform and cross-compiles (no emulation).
FROM --platform=$BUILDPLATFORM golang:1.26-bookworm AS build
WORKDIR /src
# Modules first: a source change does not download them again.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
COPY --from=web /out/jssip.js api/web/jssip.js
# The version comes from the build argument: .git is not in the build context (.dockerignore).
ARG VERSION=dev
ARG TARGETOS
ARG TARGETARCH
RUN GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH:-amd64} make static VERSION=${VERSION} OUT=/out/switchboard \
 && mkdir -p /out/data

# distroless/static: CA certificates, /etc/passwd with nonroot (65532), no shell, no libc (the
# binary needs none). Time zones are in the binary (time/tzdata).
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/switchboard /usr/local/bin/switchboard
COPY contrib/docker/switchboard.yaml /etc/switchboard/switchboard.example.yaml
# A new named volume starts as a copy of this folder: owned by the user the switch runs as.
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
VOLUME /data
# SIP over UDP and TCP; SIP over WebSocket for browsers; the page, API, /healthz and /metrics;
# RTP and RTCP (media.rtp_ports of the example config: 100 port pairs, 50 bridged calls).
EXPOSE 5060/udp 5060/tcp 5066/tcp 8080/tcp 20000-20199/udp
ENTRYPOINT ["/usr/local/bin/switchboard"]
CMD ["-config", "/etc/switchboard/switchboard.yaml", "-log-format", "json"]
