//! The net_cls and net_prio controllers (cgroup v1 only): `linux.resources.network.classID` —
//! `net_cls.classid`; `.priorities` — one `net_prio.ifpriomap` line per interface.

use oci_spec::runtime::LinuxNetwork;

use crate::resources::{w, Controller, Knobs, Setting};

pub(crate) const NET_CLS: Controller = Controller {
    v1: "net_cls",
    v2: "",
};
pub(crate) const NET_PRIO: Controller = Controller {
    v1: "net_prio",
    v2: "",
};

pub(crate) fn settings(n: &LinuxNetwork) -> Vec<Setting> {
    let mut out = Vec::new();
    if let Some(id) = n.class_id() {
        out.push(
            Setting::new(
                "network.classID",
                NET_CLS,
                w("net_cls.classid", id),
                Knobs::Unsupported,
            )
            .default_if(id == 0),
        );
    }
    for (i, p) in n.priorities().iter().flatten().enumerate() {
        out.push(Setting::new(
            format!("network.priorities[{i}]"),
            NET_PRIO,
            w(
                "net_prio.ifpriomap",
                format!("{} {}", p.name(), p.priority()),
            ),
            Knobs::Unsupported,
        ));
    }
    out
}
