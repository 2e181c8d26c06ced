//! Just enough of the W3C WebDriver protocol to drive Debian's Chromium through its
//! `chromedriver`: sessions, navigation, elements, scripts and screenshots. A crate for this
//! (fantoccini, thirtyfour) would bring an HTTP client stack and driver management we do not
//! want; the protocol is JSON over plain HTTP/1.1 on localhost.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// The key W3C WebDriver names an element reference with.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A `chromedriver` process and one browser session in it.
pub struct Browser {
    driver: Child,
    port: u16,
    session: String,
}

/// One blocking HTTP/1.1 exchange with `127.0.0.1:port`; the status and the body.
pub fn http(port: u16, method: &str, path: &str, body: Option<&Value>) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    // Read the head, then exactly the body it announces: chromedriver may keep the connection
    // open whatever the request says.
    let mut response = Vec::new();
    let mut buffer = [0u8; 16 * 1024];
    let head_end = loop {
        if let Some(at) = response.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let read = stream.read(&mut buffer)?;
        if read == 0 {
            break response.len();
        }
        response.extend_from_slice(&buffer[..read]);
    };
    let head = String::from_utf8_lossy(&response[..head_end]).to_ascii_lowercase();
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let length = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .and_then(|value| value.trim().parse::<usize>().ok());
    let chunked = head.contains("transfer-encoding: chunked");
    loop {
        let body_bytes = response.len() - head_end;
        let complete = match length {
            Some(length) => body_bytes >= length,
            None if chunked => response.ends_with(b"0\r\n\r\n"),
            None => false,
        };
        if complete {
            break;
        }
        let read = stream.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        response.extend_from_slice(&buffer[..read]);
    }
    let body = String::from_utf8_lossy(&response[head_end..]).into_owned();
    Ok((status, if chunked { dechunk(&body) } else { body }))
}

fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else { break };
        if size == 0 || tail.len() < size {
            break;
        }
        out.push_str(&tail[..size]);
        rest = tail[size..].trim_start_matches("\r\n");
    }
    out
}

impl Browser {
    /// Starts `chromedriver` on `port` and a headless Chromium session (no sandbox: tests run
    /// as root; no background networking: the machine has no network).
    pub fn start(port: u16, profile: &Path, extra_args: &[String]) -> Browser {
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver (Debian's chromium-driver) is installed");
        let deadline = Instant::now() + Duration::from_secs(20);
        while !matches!(http(port, "GET", "/status", None), Ok((200, _))) {
            assert!(Instant::now() < deadline, "chromedriver did not answer within 20 s");
            std::thread::sleep(Duration::from_millis(50));
        }
        let mut args = vec![
            "--headless=new".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-dev-shm-usage".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--window-size=1400,1100".into(),
            format!("--user-data-dir={}", profile.display()),
        ];
        args.extend_from_slice(extra_args);
        let capabilities = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": "/usr/bin/chromium", "args": args },
        }}});
        let (status, body) = http(port, "POST", "/session", Some(&capabilities)).expect("a new session");
        let reply: Value = serde_json::from_str(&body).unwrap_or_default();
        let session = reply["value"]["sessionId"].as_str().unwrap_or_else(|| panic!("no session ({status}): {body}"));
        Browser { driver, port, session: session.to_string() }
    }

    fn command(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let path = format!("/session/{}{path}", self.session);
        let (status, text) = http(self.port, method, &path, body.as_ref()).expect("chromedriver answers");
        let reply: Value = serde_json::from_str(&text).unwrap_or_default();
        assert!(status == 200, "{method} {path}: {status} {text}");
        reply["value"].clone()
    }

    /// Loads `url`.
    pub fn goto(&self, url: &str) {
        self.command("POST", "/url", Some(json!({ "url": url })));
    }

    /// The element matching `css` (panics if there is none).
    pub fn find(&self, css: &str) -> String {
        let value = self.command("POST", "/element", Some(json!({ "using": "css selector", "value": css })));
        value[ELEMENT].as_str().expect("an element reference").to_string()
    }

    /// Clicks `css`.
    pub fn click(&self, css: &str) {
        let element = self.find(css);
        self.command("POST", &format!("/element/{element}/click"), Some(json!({})));
    }

    /// Clears `css` and types `text` into it.
    pub fn type_into(&self, css: &str, text: &str) {
        let element = self.find(css);
        self.command("POST", &format!("/element/{element}/clear"), Some(json!({})));
        self.command("POST", &format!("/element/{element}/value"), Some(json!({ "text": text })));
    }

    /// Runs `script` (a function body; `arguments` holds `args`) and returns its value.
    pub fn eval(&self, script: &str, args: Value) -> Value {
        self.command("POST", "/execute/sync", Some(json!({ "script": script, "args": args })))
    }

    /// The visible text of `css`, or "" if there is no such element.
    pub fn text(&self, css: &str) -> String {
        let script = "const e = document.querySelector(arguments[0]); return e ? e.innerText : '';";
        self.eval(script, json!([css])).as_str().unwrap_or_default().to_string()
    }

    /// Polls `check` until it returns `Some`, for at most `deadline`; panics with `what`.
    pub fn wait_for<T>(&self, what: &str, deadline: Duration, mut check: impl FnMut(&Browser) -> Option<T>) -> T {
        let until = Instant::now() + deadline;
        loop {
            if let Some(found) = check(self) {
                return found;
            }
            assert!(Instant::now() < until, "waited {deadline:?} for {what}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Saves a PNG of the viewport to `path`.
    pub fn screenshot(&self, path: &Path) {
        let encoded = self.command("GET", "/screenshot", None);
        let bytes = decode_base64(encoded.as_str().expect("base64 text"));
        std::fs::write(path, bytes).expect("the screenshot is written");
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = http(self.port, "DELETE", &format!("/session/{}", self.session), None);
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn decode_base64(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let sextets: Vec<u8> = text.bytes().filter_map(value).collect();
    sextets
        .chunks(4)
        .flat_map(|c| {
            let n = c.iter().enumerate().fold(0u32, |n, (i, &s)| n | (u32::from(s) << (18 - 6 * i)));
            let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
            bytes.into_iter().take(c.len().saturating_sub(1))
        })
        .collect()
}
