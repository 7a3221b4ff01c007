use super::*;
use holm_vm_proto::{Frame, Kind};
use std::io::Cursor;

fn guest(frames: &[GuestFrame]) -> Cursor<Vec<u8>> {
    let mut w = Writer::new(Vec::new());
    for f in frames {
        w.write(f).unwrap();
    }
    Cursor::new(w.get_ref().clone())
}

fn ready() -> GuestFrame {
    GuestFrame::Event(Event::Ready(Ready {
        protocol: PROTOCOL_VERSION,
        kernel: "6.1-holm".into(),
    }))
}

fn ev(e: Event) -> GuestFrame {
    GuestFrame::Event(e)
}

fn spec_req() -> CreateRequest {
    CreateRequest {
        id: "c".into(),
        config: Box::default(),
        rootfs: holm_vm_proto::Share {
            fstype: holm_vm_proto::ShareType::NineP,
            tag: "rootfs".into(),
            guest_path: "/run/rootfs".into(),
            readonly: false,
        },
        volumes: vec![],
        networks: Vec::new(),
        hostname: None,
        entropy: Vec::new(),
        realtime_ns: None,
    }
}

fn sent(w: &[u8]) -> Vec<HostFrame> {
    let mut r = Reader::new(Cursor::new(w));
    let mut v = Vec::new();
    while let Some(f) = r.read::<HostFrame>().unwrap() {
        v.push(f);
    }
    v
}

#[test]
fn a_run_in_order() {
    let input = guest(&[
        ready(),
        ev(Event::Created { pid: 7 }),
        ev(Event::Started { stream: 0, pid: 7 }),
        // An exit that arrives while a request waits for its reply is queued.
        ev(Event::Exited {
            stream: 0,
            status: ExitStatus::Code(3),
            oom_kills: 2,
        }),
        ev(Event::Done),
        ev(Event::Error {
            message: "no such process".into(),
        }),
    ]);
    let mut out = Vec::new();
    let mut c = Control::new(input, &mut out);
    assert_eq!(c.wait_ready().unwrap().kernel, "6.1-holm");
    assert_eq!(c.create(spec_req()).unwrap(), 7);
    assert_eq!(c.start().unwrap(), 7);
    c.signal(15, false, None).unwrap();
    let e = c.pause().unwrap_err();
    assert!(matches!(&e, Error::Guest(m) if m == "no such process"));
    assert!(!e.is_violation());
    assert_eq!(c.next_exit().unwrap(), (0, ExitStatus::Code(3)));
    // The guest's OOM-kill count came with the exit.
    assert_eq!(c.oom_kills(), 2);
    assert!(matches!(
        c.next_exit().unwrap_err(),
        Error::Closed("control")
    ));
    drop(c);
    let reqs = sent(&out);
    assert_eq!(reqs.len(), 4);
    assert_eq!(reqs[1], HostFrame::Request(Request::Start));
}

fn violation<T: std::fmt::Debug>(r: Result<T, Error>) -> String {
    let e = r.unwrap_err();
    assert!(e.is_violation(), "{e}");
    e.to_string()
}

#[test]
fn a_misbehaving_guest_is_a_violation() {
    // Not ready first.
    let mut c = Control::new(guest(&[ev(Event::Done)]), Vec::new());
    assert!(violation(c.wait_ready()).contains("expected ready"));
    // Another protocol version.
    let mut c = Control::new(
        guest(&[ev(Event::Ready(Ready {
            protocol: 99,
            kernel: "k".into(),
        }))]),
        Vec::new(),
    );
    assert!(violation(c.wait_ready()).contains("version 99"));
    // The wrong reply.
    let mut c = Control::new(guest(&[ready(), ev(Event::Done)]), Vec::new());
    assert!(violation(c.create(spec_req())).contains("expected created, got done"));
    // Data on the control port.
    let mut c = Control::new(
        guest(&[
            ready(),
            GuestFrame::Stdout {
                stream: 0,
                data: b"x".to_vec(),
            },
        ]),
        Vec::new(),
    );
    assert!(violation(c.start()).contains("stdout data"));
    // An exit of a stream that was never opened, or twice.
    let mut c = Control::new(
        guest(&[
            ready(),
            ev(Event::Exited {
                stream: 5,
                status: ExitStatus::Code(0),
                oom_kills: 0,
            }),
        ]),
        Vec::new(),
    );
    assert!(violation(c.next_exit()).contains("exited (stream 5)"));
    let ex = ev(Event::Exited {
        stream: 0,
        status: ExitStatus::Code(0),
        oom_kills: 0,
    });
    let mut c = Control::new(
        guest(&[ready(), ev(Event::Created { pid: 2 }), ex.clone(), ex]),
        Vec::new(),
    );
    c.create(spec_req()).unwrap();
    c.next_exit().unwrap();
    violation(c.next_exit());
    // A second ready; a started for another stream.
    let mut c = Control::new(guest(&[ready(), ready()]), Vec::new());
    assert!(violation(c.ps()).contains("second ready"));
    let mut c = Control::new(
        guest(&[ready(), ev(Event::Started { stream: 4, pid: 3 })]),
        Vec::new(),
    );
    violation(c.exec(2, Process::default()));
    // Raw garbage and an oversized header.
    let mut c = Control::new(Cursor::new(b"GET / HTTP/1.1\r\n\r\n".to_vec()), Vec::new());
    violation(c.wait_ready());
    let mut c = Control::new(Cursor::new(vec![0xff; 64]), Vec::new());
    violation(c.wait_ready());
    // A frame of a host kind.
    let (_, body) = HostFrame::StdinClose { stream: 0 }.encode().unwrap();
    let mut raw = ((body.len() + 1) as u32).to_be_bytes().to_vec();
    raw.push(Kind::StdinClose as u8);
    raw.extend(body);
    let mut c = Control::new(Cursor::new(raw), Vec::new());
    assert!(violation(c.wait_ready()).contains("not valid in this direction"));
}

#[test]
fn stdio_accepts_only_open_streams() {
    let streams = Streams::default();
    streams.insert(0);
    let mut out = Vec::new();
    let mut s = Stdio::new(
        guest(&[
            GuestFrame::Stdout {
                stream: 0,
                data: b"hi\n".to_vec(),
            },
            GuestFrame::Stderr {
                stream: 0,
                data: b"e".to_vec(),
            },
            GuestFrame::OutputEnd { stream: 0 },
            GuestFrame::Stdout {
                stream: 0,
                data: b"late".to_vec(),
            },
        ]),
        &mut out,
        streams.clone(),
    );
    assert_eq!(
        s.next_output().unwrap(),
        Some(Output::Stdout(0, b"hi\n".to_vec()))
    );
    assert_eq!(
        s.next_output().unwrap(),
        Some(Output::Stderr(0, b"e".to_vec()))
    );
    assert_eq!(s.next_output().unwrap(), Some(Output::End(0)));
    assert!(violation(s.next_output()).contains("open stream"));
    s.send_stdin(0, &vec![1u8; MAX_DATA + 10]).unwrap();
    s.close_stdin(0).unwrap();
    drop(s);
    let f = sent(&out);
    assert_eq!(f.len(), 3, "stdin split into bounded frames");
    assert_eq!(f[2], HostFrame::StdinClose { stream: 0 });

    let mut s = Stdio::new(
        guest(&[GuestFrame::Stdout {
            stream: 9,
            data: vec![],
        }]),
        Vec::new(),
        streams.clone(),
    );
    violation(s.next_output());
    let mut s = Stdio::new(guest(&[ev(Event::Done)]), Vec::new(), streams);
    assert!(violation(s.next_output()).contains("data on the stdio port"));
}
