//! The integration tests of the read models, one binary (one link) with a module per suite:
//! the dialog list against the domain's counters (`counters_model`) and against a model of the
//! FEATURES rules (`model`), each read model over both real backends (`read_models`,
//! `project`), the query API with its access rule (`query`), the search index (`search`) and
//! the search index on a full disk (`full_disk`, on a tmpfs it mounts: root needed).
//!
//! proptest keeps the failures it found in `tests/proptest-regressions/<module>.txt` (its
//! default for a test binary with a `main.rs`) and replays them first.

mod counters_model;
mod full_disk;
mod model;
mod project;
mod query;
mod read_models;
mod search;
