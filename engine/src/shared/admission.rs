//! Connection limits an operator sets: at most so many TCP connections open in the whole server,
//! and at most so many from one client address.
//!
//! The counts are shared by every core (a client's connections land on any core, by
//! `SO_REUSEPORT`'s hash of the four-tuple), and are touched only when a connection is accepted
//! or ends, never per message. With no limit set nothing is counted. An address is a client's
//! IPv4 address, or the /64 network of an IPv6 address (one host usually holds a whole /64, so
//! a per-address limit on single IPv6 addresses would be no limit at all); an IPv4-mapped IPv6
//! address counts as the IPv4 address.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::hash::{BuildHasher, RandomState};
use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The client address a per-address limit counts by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum AddressKey {
    V4([u8; 4]),
    /// The /64 network.
    V6([u8; 8]),
}

impl From<IpAddr> for AddressKey {
    fn from(ip: IpAddr) -> AddressKey {
        match ip {
            IpAddr::V4(v4) => AddressKey::V4(v4.octets()),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => AddressKey::V4(v4.octets()),
                None => {
                    let o = v6.octets();
                    AddressKey::V6([o[0], o[1], o[2], o[3], o[4], o[5], o[6], o[7]])
                }
            },
        }
    }
}

/// Which limit refused a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// `Config::max_connections`.
    Server,
    /// `Config::max_connections_per_address`.
    Address,
}

/// What an admitted connection holds of the counts, handed back when it ends.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Admitted {
    counted: bool,
    address: Option<AddressKey>,
}

/// Shards of the per-address counts: a core takes one shard's lock per accept and per close.
const SHARDS: usize = 16;

/// The server's connection counts against its limits.
pub(crate) struct Admission {
    max: Option<usize>,
    open: AtomicUsize,
    per_address: Option<PerAddress>,
}

struct PerAddress {
    max: usize,
    hasher: RandomState,
    shards: Box<[Mutex<HashMap<AddressKey, usize>>]>,
}

impl PerAddress {
    fn shard(&self, key: &AddressKey) -> &Mutex<HashMap<AddressKey, usize>> {
        &self.shards[self.hasher.hash_one(key) as usize % SHARDS]
    }
}

impl Admission {
    /// Limits of `max` connections in the server and `per_address` from one address (`None`:
    /// no limit).
    pub(crate) fn new(max: Option<usize>, per_address: Option<usize>) -> Admission {
        Admission {
            max,
            open: AtomicUsize::new(0),
            per_address: per_address.map(|max| PerAddress {
                max,
                hasher: RandomState::new(),
                shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            }),
        }
    }

    /// Whether any limit is set (with none, connections are neither counted nor refused).
    pub(crate) fn is_limited(&self) -> bool {
        self.max.is_some() || self.per_address.is_some()
    }

    /// Counts a new connection from `ip`, or says which limit it is over (then nothing is
    /// counted).
    pub(crate) fn admit(&self, ip: IpAddr) -> Result<Admitted, Refusal> {
        let counted = match self.max {
            Some(max) => {
                if self.open.fetch_add(1, Ordering::Relaxed) >= max {
                    self.open.fetch_sub(1, Ordering::Relaxed);
                    return Err(Refusal::Server);
                }
                true
            }
            None => false,
        };
        let admitted = Admitted {
            counted,
            address: None,
        };
        let Some(per) = &self.per_address else {
            return Ok(admitted);
        };
        let key = AddressKey::from(ip);
        let mut counts = lock(per.shard(&key));
        let n = counts.entry(key).or_insert(0);
        if *n >= per.max {
            drop(counts);
            self.leave(admitted);
            return Err(Refusal::Address);
        }
        *n += 1;
        Ok(Admitted {
            address: Some(key),
            ..admitted
        })
    }

    /// An admitted connection ended.
    pub(crate) fn leave(&self, admitted: Admitted) {
        if admitted.counted {
            self.open.fetch_sub(1, Ordering::Relaxed);
        }
        if let (Some(key), Some(per)) = (admitted.address, &self.per_address) {
            let mut counts = lock(per.shard(&key));
            if let Entry::Occupied(mut e) = counts.entry(key) {
                *e.get_mut() -= 1;
                if *e.get() == 0 {
                    e.remove();
                }
            }
        }
    }
}

/// The counts stay consistent under any panic (each update is one statement), so a poisoned
/// lock is used as it is.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_counts_by_its_64_network_and_mapped_ipv4_as_ipv4() {
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(AddressKey::from(a), AddressKey::from(b));
        assert_ne!(AddressKey::from(a), AddressKey::from(c));
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        let v4: IpAddr = "10.0.0.1".parse().unwrap();
        assert_eq!(AddressKey::from(mapped), AddressKey::from(v4));
    }

    #[test]
    fn a_refused_connection_holds_nothing_and_a_left_one_frees_its_place() {
        let limits = Admission::new(Some(3), Some(2));
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let a1 = limits.admit(a).unwrap();
        let _a2 = limits.admit(a).unwrap();
        assert_eq!(limits.admit(a).unwrap_err(), Refusal::Address);
        let _b1 = limits.admit(b).unwrap();
        assert_eq!(limits.admit(b).unwrap_err(), Refusal::Server);
        limits.leave(a1);
        let _b2 = limits.admit(b).unwrap();
        assert_eq!(limits.open.load(Ordering::Relaxed), 3);
    }
}
