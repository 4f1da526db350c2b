//! CONTRACT §11, holding up under hostile traffic and outages: the real server over real sockets, against
//! real PostgreSQL (a throwaway cluster for outages) and a Redis of the test's own.

#[path = "../common/mod.rs"]
mod common;
#[path = "../support/pg_cluster.rs"]
mod pg_cluster;

mod bad_characters;
mod client_ip;
mod http_layer_errors;
mod outages;
mod raw_http;
mod shutdown;
mod slow_clients;
