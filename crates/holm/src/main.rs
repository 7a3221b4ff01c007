//! `holm`: the engine's command line.
fn main() {}
