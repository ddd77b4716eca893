//! What we read from X.509 certificates ourselves, from their DER, without
//! a parser dependency: a certificate's version (webpki refuses v1 ones,
//! and the tutorials make them), its public key (to check a client key
//! belongs to a v1 certificate webpki will not parse) and its notAfter (to
//! say "expired" before the server does).

/// The fields of a TBSCertificate up to the public key, after the
/// optional version: serialNumber, signature, issuer, validity, subject.
struct Tbs<'a> {
    /// Whether the explicit `[0]` version is there (absent means v1).
    has_version: bool,
    /// serialNumber onwards.
    fields: &'a [u8],
}

fn tbs(der: &[u8]) -> Option<Tbs<'_>> {
    let (_, certificate, _) = element(der)?;
    let (_, tbs, _) = element(certificate)?;
    let (tag, _, after) = element(tbs)?;
    Some(match tag {
        0xa0 => Tbs { has_version: true, fields: after },
        _ => Tbs { has_version: false, fields: tbs },
    })
}

/// Whether this is an X.509 v1 certificate (no version field, so no
/// extensions and no subjectAltName).
pub(super) fn is_v1(der: &[u8]) -> bool {
    tbs(der).is_some_and(|tbs| !tbs.has_version)
}

/// The certificate's SubjectPublicKeyInfo, whole (tag and length
/// included), as rustls gives a key's.
pub(super) fn public_key_info(der: &[u8]) -> Option<&[u8]> {
    let mut rest = tbs(der)?.fields;
    // serialNumber, signature, issuer, validity, subject
    for _ in 0..5 {
        rest = element(rest)?.2;
    }
    let (_, _, after) = element(rest)?;
    rest.get(..rest.len() - after.len())
}

/// The certificate's notAfter as unix seconds.
pub(super) fn not_after(der: &[u8]) -> Option<i64> {
    let mut rest = tbs(der)?.fields;
    // serialNumber, signature, issuer
    for _ in 0..3 {
        rest = element(rest)?.2;
    }
    let (_, validity, _) = element(rest)?;
    let (_, _, after_not_before) = element(validity)?;
    let (tag, time, _) = element(after_not_before)?;
    parse_time(tag, time)
}

/// One DER element: (tag, contents, what follows).
fn element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let tag = *input.first()?;
    let first = *input.get(1)? as usize;
    let (len, header) = if first < 0x80 {
        (first, 2)
    } else {
        let count = first & 0x7f;
        if count == 0 || count > 4 {
            return None;
        }
        let mut len = 0usize;
        for i in 0..count {
            len = (len << 8) | *input.get(2 + i)? as usize;
        }
        (len, 2 + count)
    };
    let end = header.checked_add(len)?;
    Some((tag, input.get(header..end)?, input.get(end..)?))
}

/// UTCTime (YYMMDDHHMMSSZ) or GeneralizedTime (YYYYMMDDHHMMSSZ).
fn parse_time(tag: u8, text: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(text).ok()?.strip_suffix('Z')?;
    let (year, rest) = match tag {
        0x17 => {
            let yy: i64 = text.get(0..2)?.parse().ok()?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, text.get(2..)?)
        }
        0x18 => (text.get(0..4)?.parse().ok()?, text.get(4..)?),
        _ => return None,
    };
    let field = |i: usize| -> Option<i64> { rest.get(i..i + 2)?.parse().ok() };
    let (month, day, hour, minute, second) = (field(0)?, field(2)?, field(4)?, field(6)?, field(8)?);
    Some(days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second)
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Unix seconds as `YYYY-MM-DD HH:MM:SS UTC`.
pub(super) fn format_utc(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC", rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates_round_trip() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(format_utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(format_utc(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(parse_time(0x17, b"000229000000Z"), Some(951_782_400));
        assert_eq!(parse_time(0x18, b"20000229000000Z"), Some(951_782_400));
        assert_eq!(parse_time(0x17, b"garbage"), None);
    }

    #[test]
    fn truncated_der_is_none() {
        assert_eq!(not_after(&[]), None);
        assert_eq!(not_after(&[0x30, 0x82, 0xff]), None);
        assert_eq!(public_key_info(&[0x30, 0x03, 0x30, 0x01, 0x02]), None);
        assert!(!is_v1(&[]));
    }

    /// A v3 certificate made by rcgen: its version, key and validity.
    #[test]
    fn reads_a_v3_certificate() -> Result<(), rcgen::Error> {
        let key = rcgen::KeyPair::generate()?;
        let mut params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()])?;
        params.not_after = rcgen::date_time_ymd(2040, 1, 2);
        let cert = params.self_signed(&key)?;
        assert!(!is_v1(cert.der()));
        assert_eq!(public_key_info(cert.der()), Some(&key.public_key_der()[..]));
        assert_eq!(not_after(cert.der()).map(format_utc).as_deref(), Some("2040-01-02 00:00:00 UTC"));
        Ok(())
    }
}
