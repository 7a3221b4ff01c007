use super::*;
use std::io::Cursor;

fn encode<F: Frame>(frames: &[F]) -> Vec<u8> {
    let mut w = Writer::new(Vec::new());
    for f in frames {
        w.write(f).unwrap();
    }
    w.get_ref().clone()
}

fn read_all<F: Frame>(bytes: &[u8]) -> Result<Vec<F>, DecodeError> {
    let mut r = Reader::new(Cursor::new(bytes));
    let mut out = Vec::new();
    while let Some(f) = r.read::<F>()? {
        out.push(f);
    }
    Ok(out)
}

fn v4_address(a: &str, prefix_len: u8) -> Address {
    Address {
        address: a.parse().unwrap(),
        prefix_len,
        broadcast: None,
        scope: Scope::Universe,
        noprefixroute: false,
    }
}

fn route(dest: &str, prefix_len: u8, gateway: Option<&str>) -> Route {
    Route {
        destination: dest.parse().unwrap(),
        prefix_len,
        gateway: gateway.map(|g| g.parse().unwrap()),
        source: None,
        metric: None,
        scope: Scope::Universe,
        onlink: false,
        mtu: None,
    }
}

fn default_via(gw: &str) -> Route {
    route("0.0.0.0", 0, Some(gw))
}

fn raw(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut v = ((body.len() + 1) as u32).to_be_bytes().to_vec();
    v.push(kind);
    v.extend_from_slice(body);
    v
}

#[test]
fn host_frames_round_trip() {
    let spec = oci_spec::runtime::Spec::default();
    let frames = vec![
        HostFrame::Request(Request::Create(Box::new(CreateRequest {
            id: "c1".into(),
            config: Box::new(spec),
            rootfs: Share {
                fstype: ShareType::NineP,
                tag: "rootfs".into(),
                guest_path: "/run/holm/rootfs".into(),
                readonly: false,
            },
            volumes: vec![],
            networks: vec![
                NetworkConfig {
                    interface: "eth0".into(),
                    mac: Some("02:42:0a:58:00:02".into()),
                    guest_mac: None,
                    mtu: None,
                    addresses: vec![v4_address("10.88.0.2", 16)],
                    routes: vec![default_via("10.88.0.1")],
                },
                NetworkConfig {
                    interface: "eth1".into(),
                    mac: Some("02:42:0a:59:00:02".into()),
                    guest_mac: None,
                    mtu: Some(1400),
                    addresses: vec![],
                    routes: vec![],
                },
            ],
            hostname: Some("h".into()),
            entropy: Vec::new(),
            realtime_ns: None,
        }))),
        HostFrame::Request(Request::Start),
        HostFrame::Request(Request::Signal(SignalRequest {
            signal: 15,
            all: true,
            stream: None,
        })),
        HostFrame::Request(Request::Resize(ResizeRequest {
            stream: 3,
            rows: 24,
            cols: 80,
        })),
        HostFrame::Request(Request::Shutdown),
        HostFrame::Stdin {
            stream: 7,
            data: b"hello".to_vec(),
        },
        HostFrame::Stdin {
            stream: 7,
            data: vec![],
        },
        HostFrame::StdinClose { stream: 7 },
    ];
    assert_eq!(read_all::<HostFrame>(&encode(&frames)).unwrap(), frames);
}

#[test]
fn guest_frames_round_trip() {
    let frames = vec![
        GuestFrame::Event(Event::Ready(Ready {
            protocol: PROTOCOL_VERSION,
            kernel: "6.1.0-holm".into(),
        })),
        GuestFrame::Event(Event::Created { pid: 5 }),
        GuestFrame::Event(Event::Started { stream: 0, pid: 5 }),
        GuestFrame::Stdout {
            stream: 0,
            data: b"hi\n".to_vec(),
        },
        GuestFrame::Stderr {
            stream: 0,
            data: vec![0; MAX_DATA],
        },
        GuestFrame::OutputEnd { stream: 0 },
        GuestFrame::Event(Event::Exited {
            stream: 0,
            status: ExitStatus::Signal(9),
            oom_kills: 1,
        }),
        GuestFrame::Event(Event::Stats(Stats {
            memory_current: Some(1 << 20),
            ..Stats::default()
        })),
        GuestFrame::Event(Event::Ps {
            pids: vec![1, 2],
            rows: vec![PsRow {
                pid: 1,
                ppid: 0,
                uid: 0,
                cpu: 3,
                start: 1_765_000_000,
                tty: "pts/0".into(),
                time: 61,
                cmd: "sh -c sleep 9".into(),
            }],
        }),
        GuestFrame::Event(Event::Error {
            message: "exec: no such file".into(),
        }),
        GuestFrame::Event(Event::Done),
    ];
    assert_eq!(read_all::<GuestFrame>(&encode(&frames)).unwrap(), frames);
}

#[test]
fn wire_shape_is_stable() {
    // The control JSON is part of the protocol: pin a few shapes.
    let (_, body) = GuestFrame::Event(Event::Exited {
        stream: 2,
        status: ExitStatus::Code(3),
        oom_kills: 2,
    })
    .encode()
    .unwrap();
    assert_eq!(
        std::str::from_utf8(&body).unwrap(),
        r#"{"exited":{"stream":2,"status":{"code":3},"oom_kills":2}}"#
    );
    let (_, body) = HostFrame::Request(Request::Pause).encode().unwrap();
    assert_eq!(body, br#""pause""#);
    let bytes = encode(&[GuestFrame::OutputEnd { stream: 258 }]);
    assert_eq!(bytes, [0, 0, 0, 5, 6, 0, 0, 1, 2]);
    // Version 3's NIC: its name, the MAC the agent finds it by, every address and route.
    let nic = NetworkConfig {
        interface: "eth1".into(),
        mac: Some("02:42:0a:59:00:02".into()),
        guest_mac: None,
        mtu: Some(1500),
        addresses: vec![v4_address("10.89.0.2", 24)],
        routes: vec![default_via("10.89.0.1")],
    };
    assert_eq!(
        serde_json::to_string(&nic).unwrap(),
        r#"{"interface":"eth1","mac":"02:42:0a:59:00:02","mtu":1500,"addresses":[{"address":"10.89.0.2","prefix_len":24,"broadcast":null,"scope":"universe","noprefixroute":false}],"routes":[{"destination":"0.0.0.0","prefix_len":0,"gateway":"10.89.0.1","source":null,"metric":null,"scope":"universe","onlink":false,"mtu":null}]}"#
    );
    // Omitted optional fields take their defaults.
    let short: NetworkConfig = serde_json::from_str(
        r#"{"interface":"eth0","addresses":[{"address":"fd00::2","prefix_len":64}],"routes":[{"destination":"::","prefix_len":0,"gateway":"fe80::1"}]}"#,
    )
    .unwrap();
    assert_eq!(short.addresses[0].scope, Scope::Universe);
    assert_eq!(short.routes[0].metric, None);
    assert_eq!(PROTOCOL_VERSION, 7);
}

#[test]
fn unknown_fields_and_variants_are_refused() {
    for body in [
        r#"{"created":{"pid":3,"extra":1}}"#,
        r#"{"exited":{"stream":0,"status":{"code":0,"signal":9}}}"#,
        r#"{"launch_missiles":{}}"#,
        r#"{"ready":{"protocol":1}}"#,
        r#"{"ps":{"pids":[1,"2"]}}"#,
        r#"{"exited":{"stream":0,"status":{"code":256}}}"#,
        r#""done" trailing"#,
    ] {
        let err = read_all::<GuestFrame>(&raw(1, body.as_bytes())).unwrap_err();
        assert!(matches!(err, DecodeError::Json(_)), "{body}: {err}");
    }
}

#[test]
fn bounds_are_checked_after_decoding() {
    let long = "x".repeat(MAX_ERROR_MESSAGE + 1);
    let body = serde_json::to_vec(&Event::Error { message: long }).unwrap();
    let err = read_all::<GuestFrame>(&raw(1, &body)).unwrap_err();
    assert!(
        matches!(err, DecodeError::Invalid(InvalidEvent::TooLong { .. })),
        "{err}"
    );
    for e in [
        Event::Created { pid: 0 },
        Event::Started { stream: 0, pid: -1 },
        Event::Exited {
            stream: 0,
            status: ExitStatus::Signal(0),
            oom_kills: 0,
        },
        Event::Ps {
            pids: vec![1, -5],
            rows: Vec::new(),
        },
        Event::Ps {
            pids: vec![1],
            rows: vec![PsRow {
                pid: 1,
                ppid: 0,
                uid: 0,
                cpu: 100,
                start: 0,
                tty: "?".into(),
                time: 0,
                cmd: String::new(),
            }],
        },
    ] {
        let body = serde_json::to_vec(&e).unwrap();
        let err = read_all::<GuestFrame>(&raw(1, &body)).unwrap_err();
        assert!(
            matches!(err, DecodeError::Invalid(InvalidEvent::OutOfRange { .. })),
            "{err}"
        );
    }
}

#[test]
fn framing_errors_are_typed() {
    // Oversized length: refused from the header, before any allocation of the body.
    let mut huge = u32::MAX.to_be_bytes().to_vec();
    huge.push(1);
    assert!(matches!(
        read_all::<GuestFrame>(&huge).unwrap_err(),
        DecodeError::BadLength {
            kind: Kind::Control,
            ..
        }
    ));
    let mut big_data = ((MAX_DATA + 6) as u32).to_be_bytes().to_vec();
    big_data.push(4);
    assert!(matches!(
        read_all::<GuestFrame>(&big_data).unwrap_err(),
        DecodeError::BadLength {
            kind: Kind::Stdout,
            ..
        }
    ));
    assert!(matches!(
        read_all::<GuestFrame>(&raw(6, &[0, 0, 0, 1, 9])).unwrap_err(),
        DecodeError::BadLength {
            kind: Kind::OutputEnd,
            ..
        }
    ));
    assert!(matches!(
        read_all::<GuestFrame>(&raw(4, &[0, 0])).unwrap_err(),
        DecodeError::BadLength { .. }
    ));
    assert!(matches!(
        read_all::<GuestFrame>(&[0, 0, 0, 0]).unwrap_err(),
        DecodeError::Empty
    ));
    assert!(matches!(
        read_all::<GuestFrame>(&raw(0x7f, b"")).unwrap_err(),
        DecodeError::UnknownKind(0x7f)
    ));
    // A guest may not send stdin; a host may not send stdout.
    assert!(matches!(
        read_all::<GuestFrame>(&raw(2, &[0, 0, 0, 0])).unwrap_err(),
        DecodeError::WrongDirection(Kind::Stdin)
    ));
    assert!(matches!(
        read_all::<HostFrame>(&raw(4, &[0, 0, 0, 0])).unwrap_err(),
        DecodeError::WrongDirection(Kind::Stdout)
    ));
    // Truncation at every point of a valid frame.
    let full = encode(&[GuestFrame::Event(Event::Done)]);
    for cut in 1..full.len() {
        let err = read_all::<GuestFrame>(&full[..cut]).unwrap_err();
        assert!(
            matches!(err, DecodeError::Truncated { .. }),
            "cut {cut}: {err}"
        );
    }
    assert!(read_all::<GuestFrame>(&[]).unwrap().is_empty());
}

#[test]
fn encoder_refuses_oversized_frames() {
    let mut w = Writer::new(Vec::new());
    let err = w
        .write(&GuestFrame::Stdout {
            stream: 0,
            data: vec![0; MAX_DATA + 1],
        })
        .unwrap_err();
    assert!(matches!(err, EncodeError::TooLarge { .. }));
    let err = w
        .write(&GuestFrame::Event(Event::Error {
            message: "y".repeat(MAX_CONTROL),
        }))
        .unwrap_err();
    assert!(matches!(err, EncodeError::TooLarge { .. }));
    assert!(
        w.get_ref().is_empty(),
        "nothing written for a refused frame"
    );
}

/// xorshift64*: deterministic garbage without a dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// A reader that counts what it was asked for: the largest single `read` buffer shows what the decoder allocated.
struct Counting<'a> {
    data: &'a [u8],
    max_buf: usize,
}
impl std::io::Read for Counting<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.max_buf = self.max_buf.max(buf.len());
        let n = buf.len().min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

#[test]
fn garbage_never_panics_nor_allocates_unbounded() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let valid = encode(&[
        GuestFrame::Event(Event::Ready(Ready {
            protocol: 1,
            kernel: "k".into(),
        })),
        GuestFrame::Stdout {
            stream: 1,
            data: b"abc".to_vec(),
        },
        GuestFrame::Event(Event::Exited {
            stream: 1,
            status: ExitStatus::Code(0),
            oom_kills: 0,
        }),
    ]);
    for i in 0..20_000 {
        let input = match i % 4 {
            // Pure noise.
            0 => {
                let n = (rng.next() % 64) as usize;
                rng.bytes(n)
            }
            // A valid stream with a few bytes flipped.
            1 => {
                let mut v = valid.clone();
                for _ in 0..1 + rng.next() % 4 {
                    let at = (rng.next() as usize) % v.len();
                    v[at] = rng.next() as u8;
                }
                v
            }
            // A plausible header with a random kind and length, then noise.
            2 => {
                let len = (rng.next() % (2 * MAX_CONTROL as u64)) as u32;
                let mut v = len.to_be_bytes().to_vec();
                v.push((rng.next() % 8) as u8);
                let n = (rng.next() % 200) as usize;
                v.extend(rng.bytes(n));
                v
            }
            // A control frame whose body is JSON-ish noise.
            _ => {
                let alphabet =
                    br#"{}[]":,0123456789-eE.truefalsnul createdpidexitedstatuscodesignal \u"#;
                let n = (rng.next() % 80) as usize;
                let body: Vec<u8> = (0..n)
                    .map(|_| alphabet[(rng.next() as usize) % alphabet.len()])
                    .collect();
                raw(1, &body)
            }
        };
        for host in [false, true] {
            let mut src = Counting {
                data: &input,
                max_buf: 0,
            };
            let mut r = Reader::new(&mut src);
            for _ in 0..8 {
                let res = if host {
                    r.read::<HostFrame>().map(|f| f.is_some())
                } else {
                    r.read::<GuestFrame>().map(|f| f.is_some())
                };
                if !matches!(res, Ok(true)) {
                    break;
                }
            }
            assert!(
                src.max_buf <= MAX_CONTROL,
                "read buffer of {} bytes",
                src.max_buf
            );
        }
    }
}

fn nic(addresses: Vec<Address>, routes: Vec<Route>) -> NetworkConfig {
    NetworkConfig {
        interface: "eth0".into(),
        mac: None,
        guest_mac: None,
        mtu: None,
        addresses,
        routes,
    }
}

#[test]
fn a_network_config_is_validated() {
    let v6 = Address {
        address: "fd00:1::2".parse().unwrap(),
        ..v4_address("10.1.0.2", 64)
    };
    let ok = nic(
        vec![v4_address("10.1.0.2", 24), v6.clone()],
        vec![
            default_via("10.1.0.1"),
            route("10.2.0.0", 16, None),
            route("10.3.0.0", 16, Some("10.2.0.9")),
            route("fd00:9::", 64, Some("fd00:1::1")),
            route("::", 0, Some("fe80::1")),
        ],
    );
    ok.validate().unwrap();
    let err = |n: NetworkConfig| n.validate().unwrap_err().to_string();
    // A gateway nothing puts on the link; the same route onlink is fine.
    let far = route("10.4.0.0", 16, Some("10.9.0.1"));
    assert_eq!(
        err(nic(vec![v4_address("10.1.0.2", 24)], vec![far.clone()])),
        "interface eth0: route 10.4.0.0/16 via 10.9.0.1: gateway 10.9.0.1 is not on the link (no address prefix \
         or route without a gateway covers it, and the route is not onlink)"
    );
    nic(
        vec![],
        vec![Route {
            onlink: true,
            ..far
        }],
    )
    .validate()
    .unwrap();
    // noprefixroute: the address's prefix does not make the gateway reachable.
    let mut np = v4_address("10.1.0.2", 24);
    np.noprefixroute = true;
    assert!(err(nic(vec![np], vec![default_via("10.1.0.1")])).contains("not on the link"));
    // Families, prefix lengths, host bits, link-local addresses, counts.
    assert!(err(nic(vec![], vec![route("10.0.0.0", 8, Some("fd00::1"))])).contains("family"));
    assert!(err(nic(vec![v4_address("10.1.0.2", 33)], vec![])).contains("prefix length"));
    assert!(err(nic(vec![], vec![route("10.0.0.1", 8, None)])).contains("host bits"));
    let ll = Address {
        address: "fe80::1".parse().unwrap(),
        ..v4_address("10.1.0.2", 64)
    };
    assert!(err(nic(vec![ll], vec![])).contains("link-local"));
    let many = vec![route("10.0.0.0", 8, None); MAX_ROUTES + 1];
    assert!(err(nic(vec![], many)).contains("routes: 257 of them, at most 256"));
}

#[test]
fn routes_without_a_gateway_are_applied_first() {
    let a = nic(
        vec![],
        vec![default_via("10.2.0.1"), route("10.2.0.0", 16, None)],
    );
    let b = nic(
        vec![],
        vec![
            route("10.5.0.0", 16, Some("10.6.0.1")),
            route("10.6.0.0", 16, None),
        ],
    );
    let nets = [a, b];
    let order: Vec<String> = apply_order(&nets)
        .iter()
        .map(|(i, r)| format!("{i} {r}"))
        .collect();
    assert_eq!(
        order,
        [
            "0 route 10.2.0.0/16",
            "1 route 10.6.0.0/16",
            "0 route default via 10.2.0.1",
            "1 route 10.5.0.0/16 via 10.6.0.1"
        ]
    );
}
