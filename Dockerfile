# The operator image: a release build on the Rust image, run as a non-root
# user on a distroless base that has only the C runtime the binary needs.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src src
COPY benches benches
RUN cargo build --release --locked --bin plumbline

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/plumbline /usr/local/bin/plumbline
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/plumbline"]
CMD ["run", "--log-format=json"]
