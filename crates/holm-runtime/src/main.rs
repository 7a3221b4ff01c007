//! holm-runtime
fn main() {}
