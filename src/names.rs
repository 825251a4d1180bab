//! Names of generated objects that stay within Kubernetes' limits.

/// The longest object name Kubernetes accepts (a DNS subdomain).
pub const MAX_NAME: usize = 253;

/// `name` when it has at most `max` bytes; otherwise its first part and a
/// hash of the whole (FNV-1a: stable across releases, unlike std's hasher),
/// so that distinct long names stay distinct.
pub fn shorten(name: &str, max: usize) -> String {
    if name.len() <= max {
        return name.to_string();
    }
    let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    let mut cut = max.saturating_sub(17);
    while !name.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}-{hash:016x}", &name[..cut])
}

#[cfg(test)]
mod tests {
    use super::shorten;

    #[test]
    fn long_names_are_cut_and_stay_distinct() {
        assert_eq!(shorten("short", 253), "short");
        let a = shorten(&"a".repeat(300), 253);
        let b = shorten(&format!("{}b", "a".repeat(299)), 253);
        assert_eq!(a.len(), 253);
        assert_ne!(a, b);
    }
}
