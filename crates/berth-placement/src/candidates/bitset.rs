//! A fixed-size set of provider indexes.

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Bitset {
    words: Vec<u64>,
}

impl Bitset {
    pub(crate) fn new(n: usize) -> Bitset {
        Bitset { words: vec![0; n.div_ceil(64)] }
    }

    pub(crate) fn insert(&mut self, i: u32) {
        self.words[(i / 64) as usize] |= 1u64 << (i % 64);
    }

    pub(crate) fn contains(&self, i: u32) -> bool {
        self.words.get((i / 64) as usize).is_some_and(|w| w & (1u64 << (i % 64)) != 0)
    }

    pub(crate) fn intersect_with(&mut self, other: &Bitset) {
        for (a, b) in self.words.iter_mut().zip(&other.words) {
            *a &= *b;
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.words.iter().all(|w| *w == 0)
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.words.iter().enumerate().flat_map(|(wi, &w)| {
            let mut w = w;
            std::iter::from_fn(move || {
                if w == 0 {
                    return None;
                }
                let b = w.trailing_zeros();
                w &= w - 1;
                Some(wi as u32 * 64 + b)
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_contains_iter() {
        let mut b = Bitset::new(200);
        assert!(b.is_empty());
        for i in [0, 63, 64, 199] {
            b.insert(i);
        }
        assert!(b.contains(63) && b.contains(64) && !b.contains(65) && !b.contains(1000));
        assert_eq!(b.iter().collect::<Vec<_>>(), vec![0, 63, 64, 199]);
        let mut c = Bitset::new(200);
        c.insert(64);
        b.intersect_with(&c);
        assert_eq!(b.iter().collect::<Vec<_>>(), vec![64]);
    }
}
