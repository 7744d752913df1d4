# One image for every Anote service: the command chooses (`command-api`,
# `query-api`, `projector`, `relay`, `migrate`, `replay`, `audit`, `sweep`,
# `parked`, `healthcheck`).
#
# Built by scripts/image.sh, which first builds /anote as a static glibc
# binary on the host and stages it under target/image/rootfs with the CA
# certificates and the user database below; this file only copies that
# tree. The image has no shell and no package manager: nothing runs in it
# but /anote, so there is nothing else to patch or to break into.
FROM scratch

ARG VERSION=unknown
ARG REVISION=unknown
ARG SOURCE=unknown

LABEL org.opencontainers.image.title="anote" \
      org.opencontainers.image.description="Anote: an event-sourced notes backend for students" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE}"

# /anote, /etc/{passwd,group,nsswitch.conf}, /etc/ssl/certs/ca-certificates.crt
# and an empty world-writable /tmp (mode 1777), all owned by root.
COPY target/image/rootfs/ /

# The APIs listen on every address of the task, /metrics and /healthz on a
# port of their own (the health check below prefers it: the projector and
# the relay serve no API). Tasks and containers may override both.
ENV ANOTE_LISTEN=0.0.0.0:8080 \
    ANOTE_METRICS_LISTEN=0.0.0.0:9090
EXPOSE 8080 9090

# `anote` in /etc/passwd: a non-root user with no home and no shell.
USER 10001:10001
WORKDIR /tmp

# The services drain in-flight requests on SIGTERM, then exit 0.
STOPSIGNAL SIGTERM

# GET /healthz on this container, 3 s at most per try. The services come
# up in well under a second once PostgreSQL answers; the start period
# covers a database that is still starting.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["/anote", "healthcheck"]

ENTRYPOINT ["/anote"]
# No service by default: each task, container or compose service names its
# command; without one the image lists them.
CMD ["--help"]
