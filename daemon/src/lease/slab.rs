//! Paged storage for lease records, addressed by slot number.
//!
//! Pages of fixed size instead of one `Vec`: growing never copies the
//! records already stored and never doubles the allocation (at 2 million
//! leases a doubling `Vec` would briefly need 400 MB). Freed slots are reused
//! before new pages are opened.

use super::index::MAX_SLOT;
use super::record::Lease4;

// 4096 records of 96 bytes: 384 KiB per page, above glibc's mmap threshold,
// so a page freed by `clear` goes back to the system.
const PAGE_BITS: u32 = 12;
const PAGE: usize = 1 << PAGE_BITS;

/// The slab holds [`MAX_SLOT`] + 1 records at most.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SlabFull;

/// Records of type `T` (the v4 store's `Lease4` by default), by slot.
#[derive(Debug)]
pub(crate) struct Slab<T = Lease4> {
    // Option<Lease4> (and Option<Lease6>) is the same size as the record
    // (niche in its enum fields).
    pages: Vec<Vec<Option<T>>>,
    free: Vec<u32>,
    len: usize,
}

fn split(slot: u32) -> (usize, usize) {
    ((slot >> PAGE_BITS) as usize, slot as usize & (PAGE - 1))
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Self {
            pages: Vec::new(),
            free: Vec::new(),
            len: 0,
        }
    }
}

impl<T> Slab<T> {
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Stores `lease` and returns its slot.
    pub(crate) fn insert(&mut self, lease: T) -> Result<u32, SlabFull> {
        if let Some(slot) = self.free.pop() {
            let (p, i) = split(slot);
            self.pages[p][i] = Some(lease);
            self.len += 1;
            return Ok(slot);
        }
        let used = self.pages.last().map_or(0, Vec::len);
        let next = self.pages.len().saturating_sub(1) * PAGE + used;
        if next > MAX_SLOT as usize {
            return Err(SlabFull);
        }
        if self.pages.last().is_none_or(|page| page.len() == PAGE) {
            self.pages.push(Vec::with_capacity(PAGE));
        }
        if let Some(page) = self.pages.last_mut() {
            page.push(Some(lease));
        }
        self.len += 1;
        Ok(next as u32)
    }

    pub(crate) fn get(&self, slot: u32) -> Option<&T> {
        let (p, i) = split(slot);
        self.pages.get(p)?.get(i)?.as_ref()
    }

    /// The lease in a slot an index refers to. An empty slot here means the
    /// indexes and the slab disagree, a bug, not a data problem.
    pub(crate) fn live(&self, slot: u32) -> &T {
        match self.get(slot) {
            Some(lease) => lease,
            None => panic!("lease index refers to empty slab slot {slot}"),
        }
    }

    /// Replaces the lease in an occupied slot and returns the old one.
    pub(crate) fn replace(&mut self, slot: u32, lease: T) -> Option<T> {
        let (p, i) = split(slot);
        let cell = self.pages.get_mut(p)?.get_mut(i)?;
        if cell.is_none() {
            return None;
        }
        cell.replace(lease)
    }

    /// Empties a slot and returns its lease.
    pub(crate) fn remove(&mut self, slot: u32) -> Option<T> {
        let (p, i) = split(slot);
        let old = self.pages.get_mut(p)?.get_mut(i)?.take();
        if old.is_some() {
            self.len -= 1;
            self.free.push(slot);
        }
        old
    }

    /// Occupied slots and their leases, in slot order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u32, &T)> + '_ {
        self.pages.iter().enumerate().flat_map(|(p, page)| {
            page.iter().enumerate().filter_map(move |(i, cell)| {
                cell.as_ref().map(|l| (((p << PAGE_BITS) | i) as u32, l))
            })
        })
    }

    /// Makes room for `additional` more records in the page table (pages
    /// themselves are allocated on demand).
    pub(crate) fn reserve(&mut self, additional: usize) {
        let want = (self.len + additional).div_ceil(PAGE);
        self.pages.reserve(want.saturating_sub(self.pages.len()));
    }

    /// Bytes held by the pages (not counting heap blocks of the records).
    pub(crate) fn heap_bytes(&self) -> usize {
        self.pages.iter().map(Vec::capacity).sum::<usize>() * std::mem::size_of::<Option<T>>()
            + self.free.capacity() * 4
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lease::record::{HwAddr, LeaseState};
    use std::net::Ipv4Addr;

    fn lease(n: u32) -> Lease4 {
        Lease4 {
            address: Ipv4Addr::from(n),
            hwaddr: HwAddr::EMPTY,
            client_id: None,
            valid_lifetime: 1,
            expire: 1,
            subnet_id: 1,
            fqdn_fwd: false,
            fqdn_rev: false,
            hostname: None,
            state: LeaseState::Default,
            user_context: None,
        }
    }

    #[test]
    fn slots_cross_pages_and_are_reused() {
        let mut slab = Slab::default();
        for n in 0..(PAGE as u32 + 10) {
            assert_eq!(slab.insert(lease(n)), Ok(n));
        }
        assert_eq!(
            slab.get(PAGE as u32 + 3).map(|l| l.address),
            Some(Ipv4Addr::from(PAGE as u32 + 3))
        );
        assert_eq!(slab.remove(5).map(|l| l.address), Some(Ipv4Addr::from(5)));
        assert_eq!(slab.remove(5), None);
        assert_eq!(slab.get(5), None);
        assert_eq!(
            slab.replace(5, lease(1)),
            None,
            "replace needs an occupied slot"
        );
        assert_eq!(slab.insert(lease(99)), Ok(5));
        assert_eq!(slab.len(), PAGE + 10);
        assert_eq!(slab.iter().count(), PAGE + 10);
        assert_eq!(
            slab.replace(5, lease(7)).map(|l| l.address),
            Some(Ipv4Addr::from(99))
        );
    }
}
