//! Command-line options of `imphnen-loadgen` and the `ws://` or `wss://` URL it targets.
//!
//! `lexopt` splits the command line (`--size 64`, `--size=64`, `-c10`, missing or non-UTF-8
//! values); this file owns the options' meaning, their defaults (several depend on the mode) and
//! the checks between them. The modes read the resulting [`Args`].

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use lexopt::ValueExt as _;

/// Usage text printed by `--help` and on errors.
pub const USAGE: &str = "\
usage: imphnen-loadgen MODE [options]

modes:
  echo       N connections, K messages in flight each, every echo verified
  broadcast  every connection subscribes; the first P also publish (id, seq, time)
  connect    upgrades per second: connect, handshake, close, repeat
  idle       open N connections and hold them (prints READY when all are open)
  smoke      a few seconds of verified echo at several sizes; non-zero exit on any fault
  reflect    a trivial echo server on --url's port, to measure the client's own ceiling

options:
  --url ws://127.0.0.1:3000/echo   target (loopback addresses only; wss:// for TLS, the
                                   certificate not checked against any root)
  --connections N (--subscribers)  connections (default 100; idle 10000; connect 50 at once)
  --publishers P                   broadcast publishers among the connections (default 1)
  --publish-url ws://..            broadcast: publishers connect here, subscribers to --url
                                   (another node of the same broker: cross-node delivery;
                                   only the subscribers' deliveries are counted and timed)
  --inflight K                     messages in flight per connection / publisher (default 1)
  --size BYTES                     payload size (default 20; broadcast minimum 32)
  --binary | --text                message type (default binary)
  --deflate                        offer permessage-deflate and require it: messages are sent
                                   compressed (JSON-like text payloads), echoes inflated
  --duration SECS                  measured window (default 10)
  --warmup SECS                    unmeasured lead-in (default 2)
  --rate MSGS_PER_SEC              open-loop pacing across all connections (echo, broadcast)
  --threads T                      client threads (default: cores in the affinity mask)
  --server-pid PID                 report server CPU per message and RSS (from /proc)
  --hold SECS                      idle: how long to hold the connections (default 30)
  --warm W                         idle: open W connections first and sample the server's RSS,
                                   then open --connections more; RSS per connection is the
                                   growth over those (default 0: growth from before any)
  --count N                        connect: stop after N upgrades
  --source-ips N                   spread sources over 127.0.0.1..=127.0.0.N (default auto)
  --json PATH                      write the result as JSON
  --quiet                          no progress line
";

/// What to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Echo throughput and latency.
    Echo,
    /// Pub/sub fan-out.
    Broadcast,
    /// Upgrades per second.
    Connect,
    /// Open connections held for memory measurement.
    Idle,
    /// Short verified echo for CI.
    Smoke,
    /// Trivial echo server (client ceiling).
    Reflect,
}

/// Where to connect: a loopback socket address, the Host header and the request target.
#[derive(Clone, Debug)]
pub struct Target {
    /// Resolved address (loopback only).
    pub addr: SocketAddr,
    /// `host:port` for the Host header.
    pub host: String,
    /// Path and query, e.g. `/broadcast?x=1`.
    pub path: String,
    /// `wss://`: TLS over the socket.
    pub tls: bool,
    /// The host without port or brackets (`127.0.0.1`, `::1`, `localhost`): TLS's server name.
    pub name: String,
}

impl Target {
    /// Parses `ws://host:port/path?query` or `wss://…`; refuses anything that is not
    /// loopback.
    pub fn parse(url: &str) -> Result<Target, String> {
        let (rest, tls) = match (url.strip_prefix("ws://"), url.strip_prefix("wss://")) {
            (Some(rest), _) => (rest, false),
            (_, Some(rest)) => (rest, true),
            _ => return Err("only ws:// and wss:// URLs are supported".into()),
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || authority.starts_with('[') => (
                h,
                p.parse::<u16>().map_err(|_| format!("bad port in {url}"))?,
            ),
            _ => (authority, if tls { 443 } else { 80 }),
        };
        let ip: IpAddr = match host.trim_start_matches('[').trim_end_matches(']') {
            "localhost" => IpAddr::V4(Ipv4Addr::LOCALHOST),
            h => h
                .parse()
                .map_err(|_| format!("host {h:?} is not an IP address or localhost"))?,
        };
        if !ip.is_loopback() {
            return Err(format!(
                "refusing non-loopback target {ip}: load tests stay on this machine"
            ));
        }
        Ok(Target {
            addr: SocketAddr::new(ip, port),
            host: authority.to_string(),
            path: path.to_string(),
            tls,
            name: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string(),
        })
    }
}

/// Every option, with defaults applied.
#[derive(Clone, Debug)]
pub struct Args {
    /// Selected mode.
    pub mode: Mode,
    /// Server to load.
    pub target: Target,
    /// Connections (subscribers for broadcast, concurrent slots for connect).
    pub connections: usize,
    /// Publishers for broadcast (taken from the connections).
    pub publishers: usize,
    /// Broadcast: where the publishers connect, when not to `target`.
    pub publish_target: Option<Target>,
    /// Messages in flight per connection (echo) or per publisher (broadcast).
    pub inflight: usize,
    /// Payload bytes.
    pub size: usize,
    /// Binary (true) or text frames.
    pub binary: bool,
    /// Measured window.
    pub duration: Duration,
    /// Unmeasured lead-in.
    pub warmup: Duration,
    /// Open-loop rate in messages per second across all connections.
    pub rate: Option<f64>,
    /// Client threads.
    pub threads: usize,
    /// Server process to sample from /proc.
    pub server_pid: Option<u32>,
    /// Idle mode hold time.
    pub hold: Duration,
    /// Idle mode: connections opened (and the server's RSS sampled) before `connections`.
    pub warm: usize,
    /// Connect mode upper bound on upgrades.
    pub count: Option<u64>,
    /// Number of 127.0.0.x source addresses (0 = auto).
    pub source_ips: usize,
    /// JSON output path.
    pub json: Option<String>,
    /// Suppress the progress line.
    pub quiet: bool,
    /// Offer permessage-deflate (RFC 7692) and require the server to accept it.
    pub deflate: bool,
}

/// The value of option `name`, parsed; an error names the option and the value.
fn value<T: std::str::FromStr>(parser: &mut lexopt::Parser, name: &str) -> Result<T, lexopt::Error>
where
    T::Err: std::fmt::Display,
{
    let raw = parser.value()?;
    let text = raw.string()?;
    text.parse()
        .map_err(|e| format!("invalid value {text:?} for {name}: {e}").into())
}

/// The value of option `name` in (fractional) seconds, at most a day.
fn secs(parser: &mut lexopt::Parser, name: &str) -> Result<Duration, lexopt::Error> {
    let s: f64 = value(parser, name)?;
    if !(0.0..=86_400.0).contains(&s) {
        return Err(format!("{name} {s} is out of range (0 to 86400 seconds)").into());
    }
    Ok(Duration::from_secs_f64(s))
}

impl Args {
    /// Parses `std::env::args()`-style arguments (without the program name): the mode first,
    /// then options. `Ok(None)` means `--help` was asked for (or nothing was given).
    pub fn parse<I>(args: I) -> Result<Option<Args>, String>
    where
        I: IntoIterator,
        I::Item: Into<std::ffi::OsString>,
    {
        Args::parse_with(&mut lexopt::Parser::from_args(args)).map_err(|e| e.to_string())
    }

    fn parse_with(parser: &mut lexopt::Parser) -> Result<Option<Args>, lexopt::Error> {
        use lexopt::Arg::{Long, Short, Value};
        let mode = match parser.next()? {
            None | Some(Short('h') | Long("help")) => return Ok(None),
            // `--smoke` is the older spelling of the mode.
            Some(Long("smoke")) => Mode::Smoke,
            Some(Value(mode)) => match mode.string()?.as_str() {
                "echo" => Mode::Echo,
                "broadcast" => Mode::Broadcast,
                "connect" => Mode::Connect,
                "idle" => Mode::Idle,
                "smoke" => Mode::Smoke,
                "reflect" => Mode::Reflect,
                other => return Err(format!("unknown mode {other:?}").into()),
            },
            Some(option) => return Err(option.unexpected()),
        };
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let mut url = String::from("ws://127.0.0.1:3000/echo");
        let mut publish_url: Option<String> = None;
        let mut a = Args {
            mode,
            target: Target::parse(&url)?,
            connections: match mode {
                Mode::Idle => 10_000,
                Mode::Connect => 50,
                Mode::Smoke => 8,
                _ => 100,
            },
            publishers: 1,
            publish_target: None,
            inflight: 1,
            size: 20,
            binary: true,
            duration: Duration::from_secs(if mode == Mode::Smoke { 1 } else { 10 }),
            warmup: Duration::from_secs(if mode == Mode::Smoke { 0 } else { 2 }),
            rate: None,
            threads,
            server_pid: None,
            hold: Duration::from_secs(30),
            warm: 0,
            count: None,
            source_ips: 0,
            json: None,
            quiet: false,
            deflate: false,
        };
        while let Some(arg) = parser.next()? {
            let name = match arg {
                Long(long) => format!("--{long}"),
                Short(short) => format!("-{short}"),
                Value(_) => return Err(arg.unexpected()),
            };
            let p = &mut *parser;
            match name.as_str() {
                "--url" => url = value(p, &name)?,
                "--connections" | "--subscribers" | "-c" => a.connections = value(p, &name)?,
                "--publishers" => a.publishers = value(p, &name)?,
                "--publish-url" => publish_url = Some(value(p, &name)?),
                "--inflight" => a.inflight = value(p, &name)?,
                "--size" => a.size = value(p, &name)?,
                "--binary" => a.binary = true,
                "--text" => a.binary = false,
                "--duration" | "-d" => a.duration = secs(p, &name)?,
                "--warmup" => a.warmup = secs(p, &name)?,
                "--rate" => a.rate = Some(value(p, &name)?),
                "--threads" | "-t" => a.threads = value(p, &name)?,
                "--server-pid" => a.server_pid = Some(value(p, &name)?),
                "--hold" => a.hold = secs(p, &name)?,
                "--warm" => a.warm = value(p, &name)?,
                "--count" => a.count = Some(value(p, &name)?),
                "--source-ips" => a.source_ips = value(p, &name)?,
                "--json" => a.json = Some(value(p, &name)?),
                "--quiet" | "-q" => a.quiet = true,
                "--deflate" => a.deflate = true,
                "--help" | "-h" => return Ok(None),
                _ => return Err(format!("unknown option {name}").into()),
            }
        }
        a.target = Target::parse(&url)?;
        a.publish_target = publish_url.as_deref().map(Target::parse).transpose()?;
        if a.publish_target.is_some() && a.mode != Mode::Broadcast {
            return Err("--publish-url is for broadcast only".into());
        }
        if a.warm > 0 && a.mode != Mode::Idle {
            return Err("--warm is for idle only".into());
        }
        if a.connections == 0 || a.threads == 0 || a.inflight == 0 {
            return Err("--connections, --threads and --inflight must be at least 1".into());
        }
        if a.mode == Mode::Broadcast {
            a.size = a.size.max(crate::mode::broadcast::MIN_SIZE);
            if a.publishers == 0 || a.publishers > a.connections {
                return Err("--publishers must be between 1 and --connections".into());
            }
        }
        if a.rate.is_some_and(|r| !(r > 0.0 && r.is_finite())) {
            return Err("--rate must be positive".into());
        }
        a.threads = a.threads.min(a.connections);
        Ok(Some(a))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Option<Args>, String> {
        Args::parse(s.split_whitespace())
    }

    fn args(s: &str) -> Args {
        parse(s).unwrap().expect("not --help")
    }

    #[test]
    fn echo_options_parse() {
        let a = args(
            "echo --url ws://127.0.0.1:3001/echo --connections 10 --inflight 16 --size 64 --text --duration 1.5 --rate=1000",
        );
        assert_eq!(a.mode, Mode::Echo);
        assert_eq!(a.target.addr, "127.0.0.1:3001".parse().unwrap());
        assert_eq!(a.target.path, "/echo");
        assert_eq!(
            (a.connections, a.inflight, a.size, a.binary),
            (10, 16, 64, false)
        );
        assert_eq!(a.duration, Duration::from_millis(1500));
        assert_eq!(a.rate, Some(1000.0));
    }

    #[test]
    fn short_options_take_attached_or_separate_values() {
        let a = args("echo -c10 -t 1 -d=3 -q");
        assert_eq!((a.connections, a.threads, a.quiet), (10, 1, true));
        assert_eq!(a.duration, Duration::from_secs(3));
    }

    #[test]
    fn defaults_depend_on_the_mode() {
        let smoke = args("smoke");
        assert_eq!(smoke.connections, 8);
        assert_eq!(
            (smoke.duration, smoke.warmup),
            (Duration::from_secs(1), Duration::ZERO)
        );
        assert_eq!(args("--smoke").mode, Mode::Smoke);
        assert_eq!(args("idle").connections, 10_000);
        assert_eq!(args("connect").connections, 50);
        let echo = args("echo");
        assert_eq!((echo.connections, echo.size, echo.binary), (100, 20, true));
        assert_eq!(
            (echo.duration, echo.warmup),
            (Duration::from_secs(10), Duration::from_secs(2))
        );
        assert_eq!(echo.target.addr, "127.0.0.1:3000".parse().unwrap());
    }

    #[test]
    fn broadcast_raises_the_size_and_checks_publishers() {
        let a = args("broadcast --subscribers 5 --publishers 2 --size 1");
        assert_eq!((a.connections, a.publishers), (5, 2));
        assert_eq!(a.size, crate::mode::broadcast::MIN_SIZE);
        assert!(parse("broadcast --connections 1 --publishers 2").is_err());
        assert!(parse("echo --publish-url ws://127.0.0.1:1/").is_err());
    }

    #[test]
    fn warm_is_an_idle_option() {
        assert_eq!(args("idle").warm, 0);
        let a = args("idle --connections 3000 --warm 500");
        assert_eq!((a.connections, a.warm), (3000, 500));
        assert!(parse("echo --warm 10").is_err());
        assert!(parse("idle --warm -1").unwrap_err().contains("--warm"));
    }

    #[test]
    fn help_is_not_an_error() {
        assert!(parse("").unwrap().is_none());
        assert!(parse("--help").unwrap().is_none());
        assert!(parse("echo -h").unwrap().is_none());
    }

    #[test]
    fn non_loopback_targets_are_refused() {
        assert!(Target::parse("ws://10.0.0.1:80/").is_err());
        assert!(Target::parse("ws://example.com/").is_err());
        assert!(Target::parse("ws://localhost:9/x?y=1").is_ok());
        assert!(Target::parse("wss://10.0.0.1:443/").is_err());
        assert!(Target::parse("http://127.0.0.1:80/").is_err());
        assert_eq!(
            Target::parse("ws://[::1]:9/x").unwrap().addr,
            "[::1]:9".parse().unwrap()
        );
    }

    #[test]
    fn bad_input_is_an_error_naming_the_option() {
        assert!(
            parse("echo --frobnicate")
                .unwrap_err()
                .contains("--frobnicate")
        );
        assert!(parse("dance").unwrap_err().contains("dance"));
        assert!(parse("echo --size").unwrap_err().contains("--size"));
        assert!(parse("echo --size lots").unwrap_err().contains("--size"));
        assert!(parse("echo --duration 1e9").is_err());
        assert!(parse("echo --rate 0").is_err());
        assert!(parse("echo --connections 0").is_err());
        assert!(parse("echo extra").is_err());
    }
}
