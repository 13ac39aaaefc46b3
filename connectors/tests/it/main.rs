//! The connectors' one test binary: a module per channel.

mod email;
