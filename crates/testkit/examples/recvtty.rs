//! `recvtty SOCKET`: like runc's `contrib/cmd/recvtty`, listens on SOCKET for one `--console-socket` connection,
//! receives the pty master and relays it to this terminal (stdin → master, master → stdout) until the container
//! side closes it. For trying `process.terminal` containers by hand:
//!
//! ```sh
//! cargo run -p holm-testkit --example recvtty -- /tmp/tty.sock &
//! holm-runtime create --console-socket /tmp/tty.sock ID && holm-runtime start ID
//! ```

use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::net::UnixListener;

fn main() {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: recvtty SOCKET");
        std::process::exit(2);
    };
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path).unwrap_or_else(|e| {
        eprintln!("recvtty: bind {path}: {e}");
        std::process::exit(1)
    });
    let (stream, _) = listener.accept().unwrap_or_else(|e| {
        eprintln!("recvtty: accept on {path}: {e}");
        std::process::exit(1)
    });
    let mut name = [0u8; 4096];
    let (n, mut fds) =
        holm_sys::socket::recv_with_fds(stream.as_fd(), &mut name).unwrap_or_else(|e| {
            eprintln!("recvtty: receive the master: {e}");
            std::process::exit(1)
        });
    if fds.len() != 1 {
        eprintln!("recvtty: expected one fd, got {}", fds.len());
        std::process::exit(1);
    }
    eprintln!(
        "recvtty: got the master of {}",
        String::from_utf8_lossy(&name[..n])
    );
    let _ = std::fs::remove_file(&path);
    let master = std::fs::File::from(fds.remove(0));
    let mut input = master.try_clone().expect("dup master");
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        let mut stdin = std::io::stdin();
        while let Ok(n) = stdin.read(&mut buf) {
            if n == 0 || input.write_all(&buf[..n]).is_err() {
                break;
            }
        }
    });
    let mut output = master;
    let mut stdout = std::io::stdout();
    let mut buf = [0u8; 4096];
    // EIO once every peer of the pty is closed.
    while let Ok(n) = output.read(&mut buf) {
        if n == 0
            || stdout
                .write_all(&buf[..n])
                .and_then(|_| stdout.flush())
                .is_err()
        {
            break;
        }
    }
}
