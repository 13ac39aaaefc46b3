//! The gateway's integration tests, one binary with a module per suite (one link instead of
//! six):
//!
//! - [`api`]: the HTTP API in-process through `app(..).oneshot(..)`, on real logs;
//! - [`attachments`]: files uploaded, sent by Telegram and mail, and downloaded in ranges over
//!   a real socket on a real `serve`, with the dialog's access rules and the channels' limits;
//! - [`bulk`]: bulk actions (F6) over a real socket on a real `serve`: ids and filters, dry
//!   runs, confirmation, rights, the idempotency key, a job killed with SIGKILL and resumed;
//! - [`credentials`]: the credential store on SQLite and on a JetStream bucket, one suite for
//!   both, two handles as two nodes;
//! - [`authorization`]: the authorization matrix, every route of the OpenAPI document × every
//!   kind of caller, expected from the access each route declares;
//! - [`channels`]: channels end to end on a real `serve` with the local provider servers:
//!   connecting, verified webhooks recorded once, replies delivered, statuses back;
//! - [`cluster_serve`]: two `serve` processes on a 3-node JetStream cluster under node kills,
//!   ending equal to a rebuild (`verify`);
//! - [`bench_dataset`]: `bench dataset`'s files and the same seed giving the same bytes;
//! - [`bench_api`]: `bench api` at a tiny size through the real binary and a real `serve`;
//! - [`bench_channels`]: `bench channels` at a tiny size: webhooks in, replies out, the raw
//!   provider, every figure in the JSON line;
//! - [`bench_export`]: `bench export` at a tiny size through the real binary and a real `serve`;
//! - [`bench_projections`]: `bench projections` at a tiny size through the real binary;
//! - [`contract`]: schemathesis against a real `serve` with an operator's credentials: no 5xx,
//!   no answer outside the OpenAPI document;
//! - [`export`]: the clients export (F8) over a real socket: CSV and XLSX rows equal to the
//!   list's selection, variables as columns, an operator's rights, bad parameters;
//! - [`events_tail`]: `events tail` over real logs, and its follow mode;
//! - [`openapi`]: `/v1/openapi.json` is 3.1, generated from the route table, every operation
//!   stating its access (`x-sb-access`) and its answers;
//! - [`faults`]: `serve` killed while it swaps a generation in or builds new ones; the log and
//!   the read models on a full disk (a tmpfs the test mounts: root needed);
//! - [`operator_api`]: the operator API over a real socket on a real `serve`: bootstrap,
//!   sign-in by token and cookie, commands and queries equal to the read models, revocation;
//! - [`health`]: `/v1/health` of a real `serve` with a failed read model, or one on another log;
//! - [`readmodels`]: `serve` keeping read models current, `rebuild` swapping, `verify`, a
//!   SIGKILL while applying;
//! - [`serve`]: `serve` on both logs, shutdown, exit codes;
//! - [`stream_setup`]: tools only look the JetStream stream up, `serve` never changes it;
//! - [`two_nodes`]: two `serve --nats` on one JetStream act as one (sign-in, commands,
//!   revocation);
//! - [`web`]: the web inbox at `/` (the built UI or the page saying how to build it, its
//!   assets' caching and gzip) and `/v1/setup`;
//! - [`common`]: helpers shared by the suites (real events, the real binary, an HTTP client).
//!
//! The suites that run the binary find it as `CARGO_BIN_EXE_switchboard`; those on JetStream
//! start a nats-server each (`switchboard_tests::NatsServer`).

mod api;
mod attachments;
mod authorization;
mod bench_api;
mod bench_channels;
mod bench_dataset;
mod bench_export;
mod bench_projections;
mod bulk;
mod channels;
mod cluster_serve;
mod common;
mod contract;
mod credentials;
mod events_tail;
mod export;
mod faults;
mod health;
mod language;
mod live;
mod openapi;
mod operator_api;
mod ownership;
mod readmodels;
mod serve;
mod stream_setup;
mod two_nodes;
mod web;
