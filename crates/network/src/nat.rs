//! The firewall, through nftables (the `nftables` crate, which runs `nft -j -f -`; Debian's `nftables` package).
//!
//! - `table ip holm`, shared: a `postrouting` NAT chain that masquerades the subnet's traffic leaving through any
//!   other interface than the bridge (egress), and `127.0.0.0/8` sources leaving through the bridge (connections
//!   from the host to `127.0.0.1:PORT` that the DNAT below sent to a container; the bridge has `route_localnet`),
//!   and DNATed traffic from the subnet going back out through the bridge (a container reaching a published port
//!   through a host address: hairpin NAT).
//! - `table ip holm-<container id>`, one per container with published ports: `prerouting` (traffic from outside)
//!   and `output` (connections from the host itself) NAT chains with one DNAT rule per port, each commented
//!   `holm:<container id>`. Clean-up deletes the table whole, so it finds everything even after a crash.
//!
//! Every change is one `nft` transaction: it applies whole or not at all. A table is replaced by adding, deleting
//! and adding it again in the same transaction, which works whether or not it existed.

use crate::ports::PortBinding;
use crate::{Error, Result, BRIDGE, SUBNET};
use nftables::batch::Batch;
use nftables::expr::{Expression, Fib, FibFlag, FibResult, Meta, MetaKey, NamedExpression, CT};
use nftables::expr::{Payload, PayloadField, Prefix};
use nftables::schema::{Chain, NfListObject, Rule, Table};
use nftables::stmt::{Match, Operator, Statement, NAT};
use nftables::types::{NfChainType, NfFamily, NfHook};
use std::borrow::Cow;
use std::net::Ipv4Addr;

/// The shared table.
pub const TABLE: &str = "holm";

/// The table of container `id`'s published ports.
pub fn container_table(id: &str) -> String {
    format!("holm-{id}")
}

fn table(name: &str) -> NfListObject<'static> {
    NfListObject::Table(Table {
        family: NfFamily::IP,
        name: Cow::Owned(name.to_string()),
        handle: None,
    })
}

fn nat_chain(table: &str, name: &'static str, hook: NfHook, prio: i32) -> NfListObject<'static> {
    NfListObject::Chain(Chain {
        family: NfFamily::IP,
        table: Cow::Owned(table.to_string()),
        name: Cow::Borrowed(name),
        _type: Some(NfChainType::NAT),
        hook: Some(hook),
        prio: Some(prio),
        ..Default::default()
    })
}

fn rule(
    table: &str,
    chain: &'static str,
    expr: Vec<Statement<'static>>,
    comment: &str,
) -> NfListObject<'static> {
    NfListObject::Rule(Rule {
        family: NfFamily::IP,
        table: Cow::Owned(table.to_string()),
        chain: Cow::Borrowed(chain),
        expr: Cow::Owned(expr),
        comment: Some(Cow::Owned(comment.to_string())),
        ..Default::default()
    })
}

fn matches(
    left: Expression<'static>,
    op: Operator,
    right: Expression<'static>,
) -> Statement<'static> {
    Statement::Match(Match { left, right, op })
}

fn payload(protocol: &'static str, field: &'static str) -> Expression<'static> {
    Expression::Named(NamedExpression::Payload(Payload::PayloadField(
        PayloadField {
            protocol: Cow::Borrowed(protocol),
            field: Cow::Borrowed(field),
        },
    )))
}

fn prefix(addr: Ipv4Addr, len: u32) -> Expression<'static> {
    Expression::Named(NamedExpression::Prefix(Prefix {
        addr: Box::new(Expression::String(Cow::Owned(addr.to_string()))),
        len,
    }))
}

fn meta(key: MetaKey) -> Expression<'static> {
    Expression::Named(NamedExpression::Meta(Meta { key }))
}

fn string(s: &str) -> Expression<'static> {
    Expression::String(Cow::Owned(s.to_string()))
}

/// The message when no `nft` program is on `PATH`: which package provides it, and how to do without.
pub const NFT_MISSING: &str = "the `nft` program was not found on PATH: install Debian's nftables package \
     (apt-get install nftables; holm's default bridge network needs it, --network none or host does not)";

fn apply(batch: Batch<'_>, what: &str) -> Result<()> {
    apply_or_missing(batch, what, false)
}

/// [`apply`]; with `missing_ok`, an `nft` that cannot be found counts as done.
fn apply_or_missing(batch: Batch<'_>, what: &str, missing_ok: bool) -> Result<()> {
    let r = nftables::helper::apply_ruleset(&batch.to_nftables());
    if let Err(nftables::helper::NftablesError::NftExecution { inner, .. }) = &r {
        if inner.kind() == std::io::ErrorKind::NotFound {
            if missing_ok {
                return Ok(());
            }
            return Err(Error::Nft {
                what: what.to_string(),
                msg: NFT_MISSING.to_string(),
            });
        }
    }
    r.map_err(|e| Error::Nft {
        what: what.to_string(),
        msg: match e {
            nftables::helper::NftablesError::NftFailed { stderr, hint, .. } => {
                let s = stderr.trim();
                if s.is_empty() {
                    hint
                } else {
                    s.lines().next().unwrap_or(s).to_string()
                }
            }
            e => e.to_string(),
        },
    })
}

/// Writes (or rewrites) the shared table `ip holm` with its masquerade rules (always runs `nft`; container starts
/// go through [`crate::natbase::ensure`], which remembers it).
pub fn ensure_base() -> Result<()> {
    let mut b = Batch::new();
    add_base(&mut b);
    apply(b, &format!("write table ip {TABLE}"))
}

fn add_base(b: &mut Batch<'static>) {
    b.add(table(TABLE));
    b.delete(table(TABLE));
    b.add(table(TABLE));
    // srcnat priority (100).
    b.add(nat_chain(TABLE, "postrouting", NfHook::Postrouting, 100));
    b.add(rule(
        TABLE,
        "postrouting",
        vec![
            matches(
                payload("ip", "saddr"),
                Operator::EQ,
                prefix(SUBNET.0, SUBNET.1 as u32),
            ),
            matches(meta(MetaKey::Oifname), Operator::NEQ, string(BRIDGE)),
            Statement::Masquerade(None),
        ],
        "holm: egress of the bridge network",
    ));
    b.add(rule(
        TABLE,
        "postrouting",
        vec![
            matches(meta(MetaKey::Oifname), Operator::EQ, string(BRIDGE)),
            matches(
                payload("ip", "saddr"),
                Operator::EQ,
                prefix(Ipv4Addr::new(127, 0, 0, 0), 8),
            ),
            Statement::Masquerade(None),
        ],
        "holm: host loopback to published ports",
    ));
    // Hairpin: a container reaching a published port through a host address is sent back out through the bridge;
    // without this the reply would go straight to it from the other container's address, which it never asked.
    b.add(rule(
        TABLE,
        "postrouting",
        vec![
            matches(meta(MetaKey::Oifname), Operator::EQ, string(BRIDGE)),
            matches(
                payload("ip", "saddr"),
                Operator::EQ,
                prefix(SUBNET.0, SUBNET.1 as u32),
            ),
            matches(
                Expression::Named(NamedExpression::CT(CT {
                    key: Cow::Borrowed("status"),
                    family: None,
                    dir: None,
                })),
                Operator::IN,
                string("dnat"),
            ),
            Statement::Masquerade(None),
        ],
        "holm: containers to published ports",
    ));
}

/// Writes container `id`'s table, DNAT of each published port (with its host port chosen) to `ip`, and with
/// `with_base` the shared table too (as [`ensure_base`]), in one transaction. [`crate::natbase::publish`] decides
/// `with_base`.
pub fn publish(id: &str, ip: Ipv4Addr, ports: &[PortBinding], with_base: bool) -> Result<()> {
    let name = container_table(id);
    apply(
        publish_batch(id, ip, ports, with_base),
        &format!("write table ip {name}"),
    )
}

fn publish_batch(id: &str, ip: Ipv4Addr, ports: &[PortBinding], with_base: bool) -> Batch<'static> {
    let name = container_table(id);
    let comment = format!("holm:{id}");
    let mut b = Batch::new();
    if with_base {
        add_base(&mut b);
    }
    b.add(table(&name));
    b.delete(table(&name));
    b.add(table(&name));
    // dstnat priority (-100).
    b.add(nat_chain(&name, "prerouting", NfHook::Prerouting, -100));
    b.add(nat_chain(&name, "output", NfHook::Output, -100));
    for p in ports {
        let daddr = if p.host_ip.is_unspecified() {
            matches(
                Expression::Named(NamedExpression::Fib(Fib {
                    result: FibResult::Type,
                    flags: [FibFlag::Daddr].into_iter().collect(),
                })),
                Operator::EQ,
                string("local"),
            )
        } else {
            matches(
                payload("ip", "daddr"),
                Operator::EQ,
                string(&p.host_ip.to_string()),
            )
        };
        let expr = vec![
            daddr,
            matches(
                payload(p.proto.as_str(), "dport"),
                Operator::EQ,
                Expression::Number(p.host_port as u32),
            ),
            Statement::DNAT(Some(NAT {
                addr: Some(string(&ip.to_string())),
                family: None,
                port: Some(Expression::Number(p.container_port as u32)),
                flags: None,
            })),
        ];
        for chain in ["prerouting", "output"] {
            b.add(rule(&name, chain, expr.clone(), &comment));
        }
    }
    b
}

/// Deletes container `id`'s table (a missing one is fine). Without an `nft` binary there is nothing holm can
/// delete: that counts as done too, so a container can still be removed after nftables was uninstalled.
pub fn unpublish(id: &str) -> Result<()> {
    let name = container_table(id);
    let mut b = Batch::new();
    b.add(table(&name));
    b.delete(table(&name));
    apply_or_missing(b, &format!("delete table ip {name}"), true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::parse_publish;

    /// The `nft -j` document, as nft would list it in text: the parts that matter.
    #[test]
    fn publish_document() {
        let mut ports = parse_publish("8080:80").unwrap();
        ports.extend(parse_publish("127.0.0.1:5353:53/udp").unwrap());
        let b = publish_batch("abc", Ipv4Addr::new(10, 77, 0, 5), &ports, true);
        let v = serde_json::to_value(b.to_nftables()).unwrap();
        let cmds = v["nftables"].as_array().unwrap();
        let rules: Vec<&serde_json::Value> = cmds
            .iter()
            .filter_map(|c| c["add"]["rule"].as_object().map(|_| &c["add"]["rule"]))
            .collect();
        // 3 shared masquerade rules, then 2 chains x 2 ports.
        assert_eq!(rules.len(), 3 + 4, "{v:#}");
        let dnat: Vec<_> = rules.iter().filter(|r| r["table"] == "holm-abc").collect();
        assert_eq!(dnat.len(), 4);
        assert!(dnat.iter().all(|r| r["comment"] == "holm:abc"));
        let text = serde_json::to_string(&dnat).unwrap();
        assert!(
            text.contains(r#"{"dnat":{"addr":"10.77.0.5","port":80}}"#),
            "{text}"
        );
        assert!(text.contains(r#""right":8080"#), "{text}");
        assert!(
            text.contains(r#"{"field":"dport","protocol":"udp"}"#),
            "{text}"
        );
        assert!(text.contains(r#""right":"127.0.0.1""#), "{text}");
        assert!(
            text.contains(r#"{"fib":{"flags":["daddr"],"result":"type"}}"#),
            "{text}"
        );
        // The container's table is replaced whole: add, delete, add.
        let table_ops: Vec<&str> = cmds
            .iter()
            .filter(|c| {
                c.as_object()
                    .and_then(|o| o.values().next())
                    .is_some_and(|x| x["table"]["name"] == "holm-abc")
            })
            .map(|c| c.as_object().unwrap().keys().next().unwrap().as_str())
            .collect();
        assert_eq!(table_ops, ["add", "delete", "add"]);
    }
}
