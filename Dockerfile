# talqo-server image: built with the pinned toolchain, run as an unprivileged user with CVs and emails in /data.

FROM rust:1.95-bookworm AS builder
WORKDIR /src

# Dependencies first, from the manifest and the lock file alone, with empty stand-ins for the crate's own
# sources: this layer is rebuilt only when Cargo.toml or Cargo.lock change, not on every code change.
COPY Cargo.toml Cargo.lock ./
RUN mkdir -p src \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs \
    && cargo build --release --locked --bin talqo-server \
    && rm -rf src target/release/talqo-server target/release/deps/talqo_server-* \
        target/release/deps/libtalqo_server-* target/release/.fingerprint/talqo-server-*

# Then the sources. The migrations are compiled into the binary (sqlx::migrate!), so the runtime image needs no
# SQL files.
COPY . .
RUN touch src/main.rs src/lib.rs \
    && cargo build --release --locked --bin talqo-server \
    && cp target/release/talqo-server /usr/local/bin/talqo-server

FROM debian:bookworm-slim
# CA certificates for HTTPS to S3, the OpenAI API and SMTP over TLS.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --home-dir /data --shell /usr/sbin/nologin talqo \
    && mkdir -p /data/mail \
    && chown -R talqo:talqo /data
COPY --from=builder /usr/local/bin/talqo-server /usr/local/bin/talqo-server
USER talqo
WORKDIR /data
VOLUME /data
EXPOSE 8080
ENV LISTEN_ADDR=0.0.0.0:8080 STORAGE_URL=file:///data MAIL_URL=file:///data/mail
# The image has no curl: the binary asks its own /healthz (on loopback, at LISTEN_ADDR's port).
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
    CMD ["/usr/local/bin/talqo-server", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/talqo-server"]
CMD ["serve"]
