# syntax=docker/dockerfile:1
ARG RUST=1.80
FROM --platform=$BUILDPLATFORM rust:${RUST} AS build
WORKDIR /src
COPY . .
RUN cargo build --release --target wasm32-wasip1

FROM scratch AS final
ARG MODE
LABEL org.opencontainers.image.title="app" mode=${MODE:-release}
COPY --from=build /src/target/wasm32-wasip1/release/app.wasm /app.wasm
COPY --chown=1000 conf/ /etc/app/
ADD https://example.com/data.tar.gz /data/
ENTRYPOINT ["/app.wasm"]
CMD serve --port 80
