//! The blkio (v1) / io (v2) controller: `linux.resources.blockIO`.
//!
//! | field | v1 | v2 |
//! |---|---|---|
//! | weight | `blkio.weight`, else `blkio.bfq.weight` | `io.bfq.weight`, else `io.weight` = 1 + (w − 10) · 9999 / 990 |
//! | leafWeight | `blkio.leaf_weight` | — |
//! | weightDevice[] | `blkio.weight_device`, else `blkio.bfq.weight_device` ("M:m w") | `io.bfq.weight`, else `io.weight` |
//! | throttle{Read,Write}{Bps,IOPS}Device[] | `blkio.throttle.{read,write}_{bps,iops}_device` ("M:m rate") | `io.max` ("M:m rbps=rate") |

use oci_spec::runtime::LinuxBlockIo;

use crate::resources::{Controller, Knob, Knobs, Setting};

pub(crate) const BLKIO: Controller = Controller {
    v1: "blkio",
    v2: "io",
};

/// v1 blkio weight (10..1000) to v2 `io.weight` (1..10000), runc's `ConvertBlkIOToIOWeightValue`; 0 is unset.
pub fn weight_to_io_weight(weight: u16) -> u64 {
    if weight == 0 {
        return 0;
    }
    let w = u64::from(weight.clamp(10, 1000));
    1 + (w - 10) * 9999 / 990
}

fn alts(list: &[(&str, String)]) -> Knobs {
    Knobs::Write(
        list.iter()
            .map(|(f, v)| Knob {
                file: (*f).to_string(),
                value: v.clone(),
            })
            .collect(),
    )
}

pub(crate) fn settings(b: &LinuxBlockIo) -> Vec<Setting> {
    let mut out = Vec::new();
    if let Some(wt) = b.weight().filter(|w| *w != 0) {
        out.push(Setting::new(
            "blockIO.weight",
            BLKIO,
            alts(&[
                ("blkio.weight", wt.to_string()),
                ("blkio.bfq.weight", wt.to_string()),
            ]),
            alts(&[
                ("io.bfq.weight", wt.to_string()),
                ("io.weight", weight_to_io_weight(wt).to_string()),
            ]),
        ));
    }
    if let Some(lw) = b.leaf_weight().filter(|w| *w != 0) {
        out.push(Setting::new(
            "blockIO.leafWeight",
            BLKIO,
            alts(&[("blkio.leaf_weight", lw.to_string())]),
            Knobs::Unsupported,
        ));
    }
    for (i, d) in b.weight_device().iter().flatten().enumerate() {
        let dev = format!("{}:{}", d.major(), d.minor());
        if let Some(wt) = d.weight().filter(|w| *w != 0) {
            out.push(Setting::new(
                format!("blockIO.weightDevice[{i}].weight"),
                BLKIO,
                alts(&[
                    ("blkio.weight_device", format!("{dev} {wt}")),
                    ("blkio.bfq.weight_device", format!("{dev} {wt}")),
                ]),
                alts(&[
                    ("io.bfq.weight", format!("{dev} {wt}")),
                    ("io.weight", format!("{dev} {}", weight_to_io_weight(wt))),
                ]),
            ));
        }
        if let Some(lw) = d.leaf_weight().filter(|w| *w != 0) {
            out.push(Setting::new(
                format!("blockIO.weightDevice[{i}].leafWeight"),
                BLKIO,
                alts(&[("blkio.leaf_weight_device", format!("{dev} {lw}"))]),
                Knobs::Unsupported,
            ));
        }
    }
    let throttles = [
        (
            "throttleReadBpsDevice",
            b.throttle_read_bps_device(),
            "read_bps",
            "rbps",
        ),
        (
            "throttleWriteBpsDevice",
            b.throttle_write_bps_device(),
            "write_bps",
            "wbps",
        ),
        (
            "throttleReadIOPSDevice",
            b.throttle_read_iops_device(),
            "read_iops",
            "riops",
        ),
        (
            "throttleWriteIOPSDevice",
            b.throttle_write_iops_device(),
            "write_iops",
            "wiops",
        ),
    ];
    for (name, list, v1, v2) in throttles {
        for (i, t) in list.iter().flatten().enumerate() {
            let dev = format!("{}:{}", t.major(), t.minor());
            // 0 removes the limit: v1 takes 0, v2 takes `max`.
            let v2_rate = if t.rate() == 0 {
                "max".to_string()
            } else {
                t.rate().to_string()
            };
            out.push(Setting::new(
                format!("blockIO.{name}[{i}]"),
                BLKIO,
                alts(&[(
                    &format!("blkio.throttle.{v1}_device"),
                    format!("{dev} {}", t.rate()),
                )]),
                alts(&[("io.max", format!("{dev} {v2}={v2_rate}"))]),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weight_conversion_follows_runc() {
        assert_eq!(weight_to_io_weight(0), 0);
        assert_eq!(weight_to_io_weight(10), 1);
        assert_eq!(weight_to_io_weight(500), 4950);
        assert_eq!(weight_to_io_weight(1000), 10_000);
        assert_eq!(weight_to_io_weight(100), 1 + 90 * 9999 / 990);
    }

    #[test]
    fn devices_and_throttles() {
        let b: LinuxBlockIo = serde_json::from_str(
            r#"{"weight": 500,
                "weightDevice": [{"major": 8, "minor": 0, "weight": 300}],
                "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1048576}],
                "throttleWriteIOPSDevice": [{"major": 8, "minor": 16, "rate": 0}]}"#,
        )
        .unwrap();
        let s = settings(&b);
        assert_eq!(s.len(), 4);
        assert_eq!(
            s[0].v2,
            alts(&[
                ("io.bfq.weight", "500".into()),
                ("io.weight", "4950".into())
            ])
        );
        assert_eq!(
            s[1].v1,
            alts(&[
                ("blkio.weight_device", "8:0 300".into()),
                ("blkio.bfq.weight_device", "8:0 300".into())
            ])
        );
        assert_eq!(
            s[2].v1,
            alts(&[("blkio.throttle.read_bps_device", "8:0 1048576".into())])
        );
        assert_eq!(s[2].v2, alts(&[("io.max", "8:0 rbps=1048576".into())]));
        assert_eq!(s[3].v2, alts(&[("io.max", "8:16 wiops=max".into())]));
        assert_eq!(s[3].field, "blockIO.throttleWriteIOPSDevice[0]");
    }
}
