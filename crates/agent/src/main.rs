//! holm-agent: pid 1 of the guest of a VM-isolated container (DESIGN.md "VM isolation").
#![forbid(unsafe_code)]

fn main() {
    eprintln!("holm-agent: not implemented yet");
    std::process::exit(1);
}
