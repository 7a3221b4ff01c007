//! `holm-monitor`: the small executable a container's monitor runs while the container runs (see the
//! `holm-monitor` crate). Installed next to `holm`, which finds it there.

fn main() {
    let args: Vec<String> = std::env::args().collect();
    std::process::exit(holm_monitor::run(&args));
}
