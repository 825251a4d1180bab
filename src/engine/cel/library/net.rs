//! The Kubernetes network and URL libraries: `ip()`, `isIP()`,
//! `ip.isCanonical()`, `cidr()`, `isCIDR()` and their methods, and `url()`,
//! `isURL()` with `getScheme`, `getHost`, `getHostname`, `getPort`,
//! `getEscapedPath`, `getQuery`. URLs are read as Go's `ParseRequestURI`
//! reads them (an absolute URI or an absolute path, nothing normalised).
//! Pure.

use std::{
    collections::HashMap,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    sync::Arc,
};

use cel::{
    ExecutionError, Value,
    objects::{Key, Map},
};

use super::{Function, Result, error, one, str_arg, string};

/// Runtime type names.
pub const IP_TYPE: &str = "net.IP";
pub const CIDR_TYPE: &str = "net.CIDR";
pub const URL_TYPE: &str = "kubernetes.URL";

/// An address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ip(pub IpAddr);

/// A prefix: an address and a length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr(pub IpAddr, pub u8);

/// A URL, in the parts `ParseRequestURI` gives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Url {
    scheme: String,
    host: String,
    path: String,
    query: String,
}

impl cel::objects::Opaque for Ip {
    fn runtime_type_name(&self) -> &str {
        IP_TYPE
    }
}
impl cel::objects::Opaque for Cidr {
    fn runtime_type_name(&self) -> &str {
        CIDR_TYPE
    }
}
impl cel::objects::Opaque for Url {
    fn runtime_type_name(&self) -> &str {
        URL_TYPE
    }
}

/// The functions, by name.
pub const FUNCTIONS: &[(&str, Function)] = &[
    ("ip", ip),
    ("isIP", is_ip),
    ("ip.isCanonical", is_canonical),
    ("family", family),
    ("isUnspecified", is_unspecified),
    ("isLoopback", is_loopback),
    ("isLinkLocalMulticast", is_link_local_multicast),
    ("isLinkLocalUnicast", is_link_local_unicast),
    ("isGlobalUnicast", is_global_unicast),
    ("cidr", cidr),
    ("isCIDR", is_cidr),
    ("containsIP", contains_ip),
    ("containsCIDR", contains_cidr),
    ("masked", masked),
    ("prefixLength", prefix_length),
    ("url", url),
    ("isURL", is_url),
    ("getScheme", get_scheme),
    ("getHost", get_host),
    ("getHostname", get_hostname),
    ("getPort", get_port),
    ("getEscapedPath", get_escaped_path),
    ("getQuery", get_query),
];

/// Parses an address as the API server does: no zones, no IPv4-mapped
/// IPv6, no leading zeros.
pub fn parse_ip(s: &str) -> std::result::Result<IpAddr, String> {
    let addr: IpAddr = s
        .parse()
        .map_err(|_| format!("IP Address {s:?} parse error during conversion from string"))?;
    if let IpAddr::V6(v6) = addr
        && v6.to_ipv4_mapped().is_some()
    {
        return Err(format!("IPv4-mapped IPv6 address {s:?} is not allowed"));
    }
    Ok(addr)
}

/// Parses a prefix as the API server does.
pub fn parse_cidr(s: &str) -> std::result::Result<Cidr, String> {
    let bad = || format!("network address {s:?} parse error during conversion from string");
    let (addr, len) = s.split_once('/').ok_or_else(bad)?;
    let addr = parse_ip(addr).map_err(|_| bad())?;
    if len.is_empty()
        || (len.len() > 1 && len.starts_with('0'))
        || !len.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(bad());
    }
    let len: u8 = len.parse().map_err(|_| bad())?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    if len > max {
        return Err(bad());
    }
    Ok(Cidr(addr, len))
}

fn global(this: Option<&Value>, args: &[Value]) -> Result<String> {
    if this.is_some() {
        return Err(ExecutionError::NoSuchOverload);
    }
    Ok(str_arg(one(args)?)?.to_string())
}

fn ip(this: Option<&Value>, args: &[Value]) -> Result {
    // `cidr.ip()`: the prefix's address.
    if let Some(c) = this {
        let c = cidr_of(c)?;
        if !args.is_empty() {
            return Err(ExecutionError::NoSuchOverload);
        }
        return Ok(Value::Opaque(Arc::new(Ip(c.0))));
    }
    let s = global(this, args)?;
    parse_ip(&s)
        .map(|a| Value::Opaque(Arc::new(Ip(a))))
        .map_err(|e| error("ip", e))
}

fn is_ip(this: Option<&Value>, args: &[Value]) -> Result {
    Ok(Value::Bool(parse_ip(&global(this, args)?).is_ok()))
}

fn is_canonical(this: Option<&Value>, args: &[Value]) -> Result {
    let s = global(this, args)?;
    let a = parse_ip(&s).map_err(|e| error("ip.isCanonical", e))?;
    Ok(Value::Bool(a.to_string() == s))
}

fn ip_of(v: &Value) -> Result<IpAddr> {
    match v {
        Value::Opaque(o) => o
            .downcast_ref::<Ip>()
            .map(|i| i.0)
            .ok_or(ExecutionError::NoSuchOverload),
        _ => Err(ExecutionError::NoSuchOverload),
    }
}

fn cidr_of(v: &Value) -> Result<Cidr> {
    match v {
        Value::Opaque(o) => o
            .downcast_ref::<Cidr>()
            .copied()
            .ok_or(ExecutionError::NoSuchOverload),
        _ => Err(ExecutionError::NoSuchOverload),
    }
}

fn ip_method(this: Option<&Value>, args: &[Value], f: fn(IpAddr) -> Value) -> Result {
    if !args.is_empty() {
        return Err(ExecutionError::NoSuchOverload);
    }
    let a = this
        .map(ip_of)
        .unwrap_or(Err(ExecutionError::NoSuchOverload))?;
    Ok(f(a))
}

fn family(this: Option<&Value>, args: &[Value]) -> Result {
    ip_method(this, args, |a| Value::Int(if a.is_ipv4() { 4 } else { 6 }))
}

fn is_unspecified(this: Option<&Value>, args: &[Value]) -> Result {
    ip_method(this, args, |a| Value::Bool(a.is_unspecified()))
}

fn is_loopback(this: Option<&Value>, args: &[Value]) -> Result {
    ip_method(this, args, |a| Value::Bool(a.is_loopback()))
}

fn link_local_multicast(a: IpAddr) -> bool {
    match a {
        IpAddr::V4(v) => v.octets()[..3] == [224, 0, 0],
        IpAddr::V6(v) => v.segments()[0] & 0xff0f == 0xff02,
    }
}

fn link_local_unicast(a: IpAddr) -> bool {
    match a {
        IpAddr::V4(v) => v.is_link_local(),
        IpAddr::V6(v) => v.segments()[0] & 0xffc0 == 0xfe80,
    }
}

fn is_link_local_multicast(this: Option<&Value>, args: &[Value]) -> Result {
    ip_method(this, args, |a| Value::Bool(link_local_multicast(a)))
}

fn is_link_local_unicast(this: Option<&Value>, args: &[Value]) -> Result {
    ip_method(this, args, |a| Value::Bool(link_local_unicast(a)))
}

/// Go's `IsGlobalUnicast`: private ranges count as global.
fn global_unicast(a: IpAddr) -> bool {
    let broadcast = a == IpAddr::V4(Ipv4Addr::BROADCAST);
    !(a.is_unspecified()
        || a.is_loopback()
        || a.is_multicast()
        || link_local_unicast(a)
        || broadcast)
}

fn is_global_unicast(this: Option<&Value>, args: &[Value]) -> Result {
    ip_method(this, args, |a| Value::Bool(global_unicast(a)))
}

fn cidr(this: Option<&Value>, args: &[Value]) -> Result {
    let s = global(this, args)?;
    parse_cidr(&s)
        .map(|c| Value::Opaque(Arc::new(c)))
        .map_err(|e| error("cidr", e))
}

fn is_cidr(this: Option<&Value>, args: &[Value]) -> Result {
    Ok(Value::Bool(parse_cidr(&global(this, args)?).is_ok()))
}

fn bits(a: IpAddr) -> (u128, u8) {
    match a {
        IpAddr::V4(v) => (u128::from(u32::from(v)), 32),
        IpAddr::V6(v) => (u128::from(v), 128),
    }
}

fn mask(value: u128, width: u8, len: u8) -> u128 {
    if len == 0 {
        0
    } else {
        let keep = u128::MAX << (128 - u32::from(len));
        (value << (128 - u32::from(width))) & keep
    }
}

fn contains(c: Cidr, a: IpAddr) -> bool {
    let (net, w) = bits(c.0);
    let (x, wx) = bits(a);
    w == wx && mask(net, w, c.1) == mask(x, w, c.1)
}

fn this_cidr(this: Option<&Value>) -> Result<Cidr> {
    this.map(cidr_of)
        .unwrap_or(Err(ExecutionError::NoSuchOverload))
}

fn contains_ip(this: Option<&Value>, args: &[Value]) -> Result {
    let c = this_cidr(this)?;
    let a = match one(args)? {
        Value::String(s) => parse_ip(s).map_err(|e| error("containsIP", e))?,
        other => ip_of(other)?,
    };
    Ok(Value::Bool(contains(c, a)))
}

fn contains_cidr(this: Option<&Value>, args: &[Value]) -> Result {
    let c = this_cidr(this)?;
    let other = match one(args)? {
        Value::String(s) => parse_cidr(s).map_err(|e| error("containsCIDR", e))?,
        other => cidr_of(other)?,
    };
    Ok(Value::Bool(other.1 >= c.1 && contains(c, other.0)))
}

fn masked(this: Option<&Value>, args: &[Value]) -> Result {
    if !args.is_empty() {
        return Err(ExecutionError::NoSuchOverload);
    }
    let c = this_cidr(this)?;
    let (v, w) = bits(c.0);
    let m = mask(v, w, c.1) >> (128 - u32::from(w));
    let addr = if w == 32 {
        IpAddr::V4(Ipv4Addr::from(m as u32))
    } else {
        IpAddr::V6(Ipv6Addr::from(m))
    };
    Ok(Value::Opaque(Arc::new(Cidr(addr, c.1))))
}

fn prefix_length(this: Option<&Value>, args: &[Value]) -> Result {
    if !args.is_empty() {
        return Err(ExecutionError::NoSuchOverload);
    }
    Ok(Value::Int(i64::from(this_cidr(this)?.1)))
}

/// `string()` of an IP address or a CIDR, as netip writes them.
pub fn display(v: &Value) -> Option<String> {
    let Value::Opaque(o) = v else {
        return None;
    };
    if let Some(ip) = o.downcast_ref::<Ip>() {
        return Some(ip.0.to_string());
    }
    o.downcast_ref::<Cidr>().map(|c| format!("{}/{}", c.0, c.1))
}

/// Reads a URL as the API server does: valid when Go's
/// `url.ParseRequestURI` accepts it whole (a fragment is path or query
/// there), then its parts as `url.Parse` gives them, the fragment cut off.
pub fn parse_url(s: &str) -> std::result::Result<Url, String> {
    if s == "*" {
        return Ok(Url {
            scheme: String::new(),
            host: String::new(),
            path: "*".into(),
            query: String::new(),
        });
    }
    let whole = parse_request_uri(s)?;
    match s.split_once('#') {
        Some((before, _)) => parse_request_uri(before).or(Ok(whole)),
        None => Ok(whole),
    }
}

/// Whether every `%` starts an escape of two hex digits, as Go's
/// `unescape` wants of a path.
fn escapes_valid(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            if !(b.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
            {
                return false;
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    true
}

fn parse_request_uri(s: &str) -> std::result::Result<Url, String> {
    let bad = |why: &str| format!("URL {s:?} is not valid: {why}");
    if s.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return Err(bad("it contains a control character"));
    }
    if s.is_empty() {
        return Err(bad("it is empty"));
    }
    let (rest, query) = match s.split_once('?') {
        Some((r, q)) => (r, q.to_string()),
        None => (s, String::new()),
    };
    let mut url = Url {
        scheme: String::new(),
        host: String::new(),
        path: String::new(),
        query,
    };
    if rest.starts_with('/') {
        if !escapes_valid(rest) {
            return Err(bad("invalid URL escape in its path"));
        }
        url.path = rest.to_string();
        return Ok(url);
    }
    let colon = rest
        .find(':')
        .ok_or_else(|| bad("it is neither an absolute URI nor an absolute path"))?;
    let scheme = &rest[..colon];
    let valid_scheme = scheme
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic())
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
    if !valid_scheme {
        return Err(bad("missing protocol scheme"));
    }
    url.scheme = scheme.to_ascii_lowercase();
    let after = &rest[colon + 1..];
    let Some(authority_and_path) = after.strip_prefix("//") else {
        if after.starts_with('/') {
            url.path = after.to_string();
            return Ok(url);
        }
        // An opaque URI such as `mailto:x@example.com`.
        return Ok(url);
    };
    let (authority, path) = match authority_and_path.find('/') {
        Some(i) => authority_and_path.split_at(i),
        None => (authority_and_path, ""),
    };
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    validate_host(host).map_err(|w| bad(&w))?;
    if !escapes_valid(path) || !escapes_valid(host) {
        return Err(bad("invalid URL escape"));
    }
    url.host = host.to_string();
    url.path = path.to_string();
    Ok(url)
}

fn validate_host(host: &str) -> std::result::Result<(), String> {
    let (name, port) = if let Some(rest) = host.strip_prefix('[') {
        let (inside, after) = rest.split_once(']').ok_or("missing ']' in host")?;
        if inside.parse::<Ipv6Addr>().is_err() && !inside.contains('%') {
            return Err(format!("invalid IPv6 address {inside:?}"));
        }
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':').ok_or("invalid port after host")?),
        };
        ("", port)
    } else {
        match host.rsplit_once(':') {
            Some((n, p)) => (n, Some(p)),
            None => (host, None),
        }
    };
    if let Some(p) = port
        && !p.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(format!("invalid port {p:?}"));
    }
    let allowed =
        |b: u8| b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=%".contains(&b) || b >= 0x80;
    if !name.bytes().all(allowed) {
        return Err(format!("invalid character in host name {name:?}"));
    }
    Ok(())
}

fn url(this: Option<&Value>, args: &[Value]) -> Result {
    let s = global(this, args)?;
    parse_url(&s)
        .map(|u| Value::Opaque(Arc::new(u)))
        .map_err(|e| error("url", e))
}

fn is_url(this: Option<&Value>, args: &[Value]) -> Result {
    Ok(Value::Bool(parse_url(&global(this, args)?).is_ok()))
}

fn url_method(this: Option<&Value>, args: &[Value], f: fn(&Url) -> Value) -> Result {
    if !args.is_empty() {
        return Err(ExecutionError::NoSuchOverload);
    }
    match this {
        Some(Value::Opaque(o)) => o
            .downcast_ref::<Url>()
            .map(f)
            .ok_or(ExecutionError::NoSuchOverload),
        _ => Err(ExecutionError::NoSuchOverload),
    }
}

fn split_host(host: &str) -> (&str, &str) {
    if let Some(rest) = host.strip_prefix('[') {
        let (inside, after) = rest.split_once(']').unwrap_or((rest, ""));
        (inside, after.strip_prefix(':').unwrap_or(""))
    } else {
        host.rsplit_once(':').unwrap_or((host, ""))
    }
}

fn get_scheme(this: Option<&Value>, args: &[Value]) -> Result {
    url_method(this, args, |u| string(u.scheme.clone()))
}

fn get_host(this: Option<&Value>, args: &[Value]) -> Result {
    url_method(this, args, |u| string(u.host.clone()))
}

fn get_hostname(this: Option<&Value>, args: &[Value]) -> Result {
    url_method(this, args, |u| string(split_host(&u.host).0))
}

fn get_port(this: Option<&Value>, args: &[Value]) -> Result {
    url_method(this, args, |u| string(split_host(&u.host).1))
}

fn get_escaped_path(this: Option<&Value>, args: &[Value]) -> Result {
    url_method(this, args, |u| string(escaped_path(&u.path)))
}

/// Go's `URL.EscapedPath`: the path as written when it is validly encoded,
/// else the decoded path encoded again (a space becomes `%20`).
fn escaped_path(raw: &str) -> String {
    // What Go's escaping leaves as it is in a path (shouldEscape), and what
    // it accepts as already encoded (validEncoded) besides.
    let keeps = |c: u8| c.is_ascii_alphanumeric() || b"-_.~$&+,/:;=@".contains(&c);
    if raw == "*" || raw.bytes().all(|c| keeps(c) || b"%!'()*[]".contains(&c)) {
        return raw.to_string();
    }
    let b = raw.as_bytes();
    let mut decoded = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match (
            b[i],
            raw.get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok()),
        ) {
            (b'%', Some(byte)) => {
                decoded.push(byte);
                i += 3;
            }
            (c, _) => {
                decoded.push(c);
                i += 1;
            }
        }
    }
    let mut out = String::with_capacity(decoded.len() * 3);
    for c in decoded {
        if keeps(c) {
            out.push(c as char);
        } else {
            out.push_str(&format!("%{c:02X}"));
        }
    }
    out
}

/// Go's `url.ParseQuery`, dropping pairs it cannot decode.
fn get_query(this: Option<&Value>, args: &[Value]) -> Result {
    url_method(this, args, |u| {
        let mut out: HashMap<String, Vec<Value>> = HashMap::new();
        for pair in u
            .query
            .split('&')
            .filter(|p| !p.is_empty() && !p.contains(';'))
        {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            if let (Some(k), Some(v)) = (unescape(k), unescape(v)) {
                out.entry(k).or_default().push(string(v));
            }
        }
        Value::Map(Map {
            map: Arc::new(
                out.into_iter()
                    .map(|(k, v)| (Key::String(Arc::new(k)), Value::List(Arc::new(v))))
                    .collect(),
            ),
        })
    })
}

fn unescape(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = s.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_prefixes() {
        assert!(parse_ip("10.0.0.1").is_ok());
        assert!(parse_ip("010.0.0.1").is_err());
        assert!(parse_ip("::ffff:1.2.3.4").is_err());
        assert!(parse_ip("fe80::1%eth0").is_err());
        let c = parse_cidr("10.0.0.0/8").unwrap();
        assert!(contains(c, "10.1.2.3".parse().unwrap()));
        assert!(!contains(c, "11.0.0.1".parse().unwrap()));
        assert!(parse_cidr("10.0.0.0/33").is_err());
        assert!(parse_cidr("10.0.0.0/08").is_err());
        assert!(global_unicast("10.0.0.1".parse().unwrap()));
        assert!(!global_unicast("255.255.255.255".parse().unwrap()));
    }

    #[test]
    fn urls_as_parse_request_uri_reads_them() {
        let u = parse_url("https://Example.com:8443/a%20b?x=1&x=2").unwrap();
        assert_eq!(
            (u.scheme.as_str(), u.host.as_str(), u.path.as_str()),
            ("https", "Example.com:8443", "/a%20b")
        );
        assert_eq!(split_host("[::1]:80"), ("::1", "80"));
        let p = parse_url("//host/p").unwrap();
        assert_eq!((p.host.as_str(), p.path.as_str()), ("", "//host/p"));
        assert!(parse_url("../relative").is_err());
        assert!(parse_url("example.com").is_err());
        assert!(parse_url("https://ex ample.com/").is_err());
    }
}
