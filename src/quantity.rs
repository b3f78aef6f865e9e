//! Exact parsing of Kubernetes resource quantities (`64Gi`, `8024516Ki`, `500m`, `1.5G`, `1e3`).
//!
//! Quantities are held as a whole number of nano-units (`i128`), so every suffix Kubernetes
//! accepts (`n` … `E`, `Ki` … `Ei`, decimal exponents) is represented without rounding; like
//! the API server, anything finer than a nano-unit is rounded up.

use std::fmt;

const NANO: i128 = 1_000_000_000;

/// A parsed quantity in nano-units of the base unit (bytes for memory, cores for CPU).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Quantity {
    nanos: i128,
}

/// Why a string is not a Kubernetes quantity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid quantity {input:?}: {reason}")]
pub struct QuantityError {
    pub input: String,
    pub reason: &'static str,
}

impl Quantity {
    pub const ZERO: Quantity = Quantity { nanos: 0 };

    pub fn nanos(self) -> i128 {
        self.nanos
    }

    /// Whole base units, rounded up (bytes for memory).
    pub fn ceil_units(self) -> i128 {
        self.nanos.div_euclid(NANO) + i128::from(self.nanos.rem_euclid(NANO) != 0)
    }

    /// Thousandths of a unit, rounded up (millicores for CPU).
    pub fn ceil_millis(self) -> i128 {
        let per_milli = NANO / 1000;
        self.nanos.div_euclid(per_milli) + i128::from(self.nanos.rem_euclid(per_milli) != 0)
    }

    pub fn parse(input: &str) -> Result<Self, QuantityError> {
        let err = |reason| QuantityError {
            input: input.to_string(),
            reason,
        };
        let s = input.trim();
        if s.is_empty() {
            return Err(err("empty"));
        }
        let (negative, body) = match s.as_bytes()[0] {
            b'-' => (true, &s[1..]),
            b'+' => (false, &s[1..]),
            _ => (false, s),
        };
        let num_end = body
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(body.len());
        let (number, suffix) = body.split_at(num_end);
        if number.is_empty() || number == "." {
            return Err(err("no number"));
        }
        let (int_part, frac_part) = match number.split_once('.') {
            Some((i, f)) => (i, f),
            None => (number, ""),
        };
        if frac_part.contains('.') {
            return Err(err("more than one decimal point"));
        }
        // Mantissa as an integer scaled by 10^-frac_len.
        let digits = format!("{int_part}{frac_part}");
        let digits = digits.trim_start_matches('0');
        if digits.len() > 30 {
            return Err(err("too many digits"));
        }
        let mantissa: i128 = if digits.is_empty() {
            0
        } else {
            digits.parse().map_err(|_| err("bad number"))?
        };
        let mut dec_exp: i32 = -(frac_part.len() as i32);
        let mut binary_mult: i128 = 1;
        match suffix {
            "" => {}
            "n" => dec_exp -= 9,
            "u" => dec_exp -= 6,
            "m" => dec_exp -= 3,
            "k" => dec_exp += 3,
            "M" => dec_exp += 6,
            "G" => dec_exp += 9,
            "T" => dec_exp += 12,
            "P" => dec_exp += 15,
            "E" => dec_exp += 18,
            "Ki" => binary_mult = 1 << 10,
            "Mi" => binary_mult = 1 << 20,
            "Gi" => binary_mult = 1 << 30,
            "Ti" => binary_mult = 1 << 40,
            "Pi" => binary_mult = 1 << 50,
            "Ei" => binary_mult = 1 << 60,
            other if other.starts_with(['e', 'E']) => {
                let exp: i32 = other[1..].parse().map_err(|_| err("bad exponent"))?;
                if exp.unsigned_abs() > 40 {
                    return Err(err("exponent out of range"));
                }
                dec_exp += exp;
            }
            _ => return Err(err("unknown suffix")),
        }
        // value = mantissa * binary_mult * 10^dec_exp; convert to nanos (× 10^9).
        let scale = dec_exp + 9;
        let base = mantissa
            .checked_mul(binary_mult)
            .ok_or_else(|| err("too large"))?;
        let nanos = if scale >= 0 {
            let p = 10i128
                .checked_pow(scale as u32)
                .ok_or_else(|| err("too large"))?;
            base.checked_mul(p).ok_or_else(|| err("too large"))?
        } else {
            let p = 10i128.checked_pow((-scale) as u32).unwrap_or(i128::MAX);
            // Round up like the API server does for sub-nano precision.
            base / p + i128::from(base % p != 0)
        };
        Ok(Quantity {
            nanos: if negative { -nanos } else { nanos },
        })
    }
}

impl std::ops::Add for Quantity {
    type Output = Quantity;
    fn add(self, rhs: Quantity) -> Quantity {
        Quantity {
            nanos: self.nanos + rhs.nanos,
        }
    }
}

impl std::ops::AddAssign for Quantity {
    fn add_assign(&mut self, rhs: Quantity) {
        self.nanos += rhs.nanos;
    }
}

impl std::iter::Sum for Quantity {
    fn sum<I: Iterator<Item = Quantity>>(iter: I) -> Quantity {
        iter.fold(Quantity::ZERO, |a, b| a + b)
    }
}

/// Human form of a byte count in binary units, e.g. `7.6Gi`, `300Mi`, `512`.
pub fn format_bytes(bytes: i128) -> String {
    const UNITS: [(&str, i128); 4] = [
        ("Ti", 1 << 40),
        ("Gi", 1 << 30),
        ("Mi", 1 << 20),
        ("Ki", 1 << 10),
    ];
    let sign = if bytes < 0 { "-" } else { "" };
    let b = bytes.abs();
    for (unit, size) in UNITS {
        if b >= size {
            if b % size == 0 {
                return format!("{sign}{}{unit}", b / size);
            }
            let tenths = (b * 10 + size / 2) / size;
            return format!("{sign}{}.{}{unit}", tenths / 10, tenths % 10);
        }
    }
    format!("{sign}{b}")
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.nanos % NANO == 0 {
            write!(f, "{}", self.nanos / NANO)
        } else if self.nanos % (NANO / 1000) == 0 {
            write!(f, "{}m", self.nanos / (NANO / 1000))
        } else {
            write!(f, "{}n", self.nanos)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(s: &str) -> i128 {
        Quantity::parse(s).unwrap().ceil_units()
    }

    #[test]
    fn binary_suffixes_are_exact() {
        assert_eq!(bytes("64Gi"), 64 * (1 << 30));
        assert_eq!(bytes("8024516Ki"), 8_024_516 * 1024);
        assert_eq!(bytes("300Mi"), 300 * (1 << 20));
        assert_eq!(bytes("1Ei"), 1 << 60);
    }

    #[test]
    fn decimal_suffixes_and_fractions_are_exact() {
        assert_eq!(bytes("1.5G"), 1_500_000_000);
        assert_eq!(bytes("2k"), 2000);
        assert_eq!(bytes("1e3"), 1000);
        assert_eq!(bytes("1.5E2"), 150);
        assert_eq!(bytes("37926431477"), 37_926_431_477);
        assert_eq!(bytes("0.5Gi"), 1 << 29);
    }

    #[test]
    fn milli_and_nano_units() {
        let q = Quantity::parse("500m").unwrap();
        assert_eq!(q.ceil_millis(), 500);
        assert_eq!(q.ceil_units(), 1);
        assert_eq!(Quantity::parse("412345678n").unwrap().nanos(), 412_345_678);
        assert_eq!(Quantity::parse("250u").unwrap().nanos(), 250_000);
        assert_eq!(Quantity::parse("4").unwrap().ceil_millis(), 4000);
        // Sub-nano precision rounds up, as the API server does.
        assert_eq!(Quantity::parse("0.0000000001").unwrap().nanos(), 1);
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "",
            "Gi",
            "1.2.3",
            "12XB",
            "1Gib",
            "abc",
            "--1",
            "1e-2147483648",
            "1e2147483647",
            "9e40",
        ] {
            assert!(Quantity::parse(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn sums_and_formats() {
        let total: Quantity = ["300Mi", "300Mi", "1Gi"]
            .iter()
            .map(|s| Quantity::parse(s).unwrap())
            .sum();
        assert_eq!(total.ceil_units(), 1624 * (1 << 20));
        assert_eq!(format_bytes(total.ceil_units()), "1.6Gi");
        assert_eq!(format_bytes(300 * (1 << 20)), "300Mi");
        assert_eq!(format_bytes(512), "512");
        assert_eq!(Quantity::parse("1500m").unwrap().to_string(), "1500m");
    }
}
