//! A small HTTP/1.1 client over one kept-alive connection, for `alert send`, `status` and the
//! webhook benchmark (hyper is already in the tree through the server).

use std::net::SocketAddr;

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;

/// One connection to the engine.
pub struct Client {
    sender: SendRequest<Full<Bytes>>,
    host: String,
}

impl Client {
    /// Connects to `addr`.
    ///
    /// # Errors
    /// When nothing listens there.
    pub async fn connect(addr: SocketAddr) -> Result<Self> {
        let stream = tokio::net::TcpStream::connect(addr)
            .await
            .with_context(|| format!("cannot reach the engine at {addr}: is `zepix run` running?"))?;
        stream.set_nodelay(true).ok();
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            // The connection ends when the client is dropped; its error then means nothing.
            let _ = conn.await;
        });
        Ok(Self { sender, host: addr.to_string() })
    }

    /// Sends a request; returns the status and the body.
    ///
    /// # Errors
    /// When the connection fails.
    pub async fn send(
        &mut self,
        method: Method,
        path: &str,
        body: Bytes,
        token: Option<&str>,
    ) -> Result<(StatusCode, Bytes)> {
        self.sender.ready().await?;
        let mut request = Request::builder().method(method).uri(path).header("host", &self.host);
        if !body.is_empty() {
            request = request.header("content-type", "application/json");
        }
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let response = self.sender.send_request(request.body(Full::new(body))?).await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        Ok((status, body))
    }

    /// GETs a JSON document.
    ///
    /// # Errors
    /// When the connection fails or the answer is not 200 JSON.
    pub async fn get_json(&mut self, path: &str, token: Option<&str>) -> Result<serde_json::Value> {
        let (status, body) = self.send(Method::GET, path, Bytes::new(), token).await?;
        if status != StatusCode::OK {
            bail!("GET {path}: {status}: {}", String::from_utf8_lossy(&body));
        }
        serde_json::from_slice(&body).with_context(|| format!("GET {path}: not JSON"))
    }
}

/// Reads `http://host:port` or `host:port`.
///
/// # Errors
/// When it is not a socket address.
pub fn parse_url(url: &str) -> Result<SocketAddr> {
    let rest = url.strip_prefix("http://").unwrap_or(url).trim_end_matches('/');
    if url.starts_with("https://") {
        bail!(
            "`{url}`: only http:// is supported by the CLI (put TLS in front of the engine, not between the CLI and it)"
        );
    }
    let host = rest.split('/').next().unwrap_or(rest).replace("localhost", "127.0.0.1");
    host.parse().with_context(|| format!("`{url}` is not an address such as http://127.0.0.1:8080"))
}
