# hotline in a container: Debian bookworm slim, the embedded PostgreSQL's
# server binaries included (or point database.url / HOTLINE_DATABASE_URL
# at your own server and they stay unused).
#
#   docker build --build-arg HOTLINE_GIT_REV=$(git rev-parse --short=12 HEAD) -t hotline .
#   docker run -d --name hotline --network host --stop-timeout 90 \
#       -v hotline-data:/var/lib/hotline -v /srv/hotline/etc:/etc/hotline hotline
#
# Ports (see README "Firewall"): SIP 5060 UDP+TCP, RTP 20000-30000 UDP
# (media.rtp_ports), admin API 8080 TCP (no authentication: never publish
# it beyond the host). --network host is the simple way: publishing 10 000
# RTP ports through Docker's proxy is slow; if you must, narrow the range
# (media.rtp_ports = "20000-20199": 100 calls) and publish exactly it, and
# set media.address to the host's address callers reach:
#   docker run -d -p 5060:5060/udp -p 5060:5060/tcp -p 20000-20199:20000-20199/udp \
#       -p 127.0.0.1:8080:8080 ...
#
# Volumes: /var/lib/hotline (journal, recordings, voice notes, embedded
# database, prompt overrides in prompts/), /etc/hotline (configuration,
# call flow, prompt overrides in prompts/). The image's /etc/hotline holds
# the shipped files; a bind mount replaces them all, so start from a copy.

FROM rust:1.89-slim-bookworm AS build
WORKDIR /src
# The git revision for `hotline --version` (.git is not sent to the build).
ARG HOTLINE_GIT_REV=""
ENV HOTLINE_GIT_REV=${HOTLINE_GIT_REV}
COPY Cargo.toml Cargo.lock build.rs ./
COPY src src
COPY config config
COPY prompts prompts
COPY benches benches
RUN cargo build --release --locked --bin hotline \
 && strip target/release/hotline

FROM debian:bookworm-slim
# PostgreSQL's server binaries for the embedded cluster, without the
# distribution's own "main" cluster.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql-common \
 && echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.d/hotline.conf \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql-15 \
 && rm -rf /var/lib/apt/lists/*
RUN useradd --system --user-group --home-dir /var/lib/hotline --no-create-home hotline \
 && install -d -o hotline -g hotline -m 0700 /var/lib/hotline \
 && install -d -m 0755 /etc/hotline/prompts /usr/share/hotline
COPY --from=build /src/target/release/hotline /usr/bin/hotline
COPY config/hotline.toml config/ivr.toml config/ivr-urgent.toml config/sla-urgent.toml /etc/hotline/
COPY prompts /usr/share/hotline/prompts
USER hotline
WORKDIR /var/lib/hotline
VOLUME ["/var/lib/hotline", "/etc/hotline"]
EXPOSE 5060/udp 5060/tcp 8080/tcp 20000-30000/udp
# SIGTERM drains calls for sip.drain_timeout (60 s): give it
# `docker stop -t 90` / --stop-timeout 90.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s \
    CMD ["hotline", "--admin-listen", "127.0.0.1:8080", "status"]
# The admin API listens on all of the container's addresses so a published
# port reaches it; publish it on the host's loopback only (see above).
CMD ["hotline", "--config", "/etc/hotline/hotline.toml", "--admin-listen", "0.0.0.0:8080", "run"]
