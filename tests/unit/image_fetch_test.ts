import assert from "node:assert/strict";
import {
  brokeOffLine,
  httpStatusLine,
  isDiskFull,
  requestFailedLine,
  writeFailedLine,
} from "../../lib/images/fetch_errors.ts";
import { parseContentRange, usesProxy, validatorOf } from "../../lib/images/source.ts";
import { parseHead, requestText } from "../../lib/images/http.ts";
import { lastPercent } from "../../lib/qemu/img.ts";

/** Errors as Deno's fetch throws them (a TypeError with the cause's text). */
function fetchError(cause: string): TypeError {
  return new TypeError("fetch failed", { cause: new Error(cause) });
}

const URL_ = "https://example.org/deb.qcow2";

Deno.test("requestFailedLine names refused, DNS, TLS, unreachable in one line", () => {
  const cases: [string, RegExp][] = [
    [
      "client error (Connect): tcp connect error: Connection refused (os error 111)",
      /: connection refused; check/,
    ],
    [
      "dns error: failed to lookup address information: Name or service not known",
      /host not found \(DNS\)/,
    ],
    [
      "client error (Connect): invalid peer certificate: Other(OtherError(CaUsedAsEndEntity))",
      /TLS error \(Other\(OtherError\(CaUsedAsEndEntity\)\)\): the server's certificate is not trusted/,
    ],
    ["tcp connect error: Network is unreachable (os error 101)", /network unreachable/],
  ];
  for (const [cause, re] of cases) {
    const line = requestFailedLine(URL_, fetchError(cause));
    assert.match(line, re);
    assert.ok(line.startsWith(`Cannot download "${URL_}": `));
    assert.ok(!line.includes("\n"));
  }
});

Deno.test("httpStatusLine says what the status means", () => {
  assert.match(httpStatusLine(URL_, 404, "Not Found"), /HTTP 404 Not Found; the file is not there/);
  assert.match(httpStatusLine(URL_, 503, ""), /HTTP 503; the server failed: try again later/);
  assert.match(httpStatusLine(URL_, 403, "Forbidden"), /refuses access/);
});

Deno.test("brokeOffLine and writeFailedLine keep the .part for a resume; disk full is recognised", () => {
  const line = brokeOffLine(
    URL_,
    3 * 2 ** 20,
    10 * 2 ** 20,
    new TypeError("error reading a body from connection"),
    "/v/.images/deb.qcow2.part",
  );
  assert.equal(
    line,
    `Download of "${URL_}" broke off after 3.0 MiB of 10.0 MiB (error reading a body from connection); ` +
      `"/v/.images/deb.qcow2.part" is kept: pull again to resume`,
  );
  const full = Object.assign(new Error("No space left on device (os error 28)"), {
    code: "ENOSPC",
  });
  assert.ok(isDiskFull(full));
  assert.match(
    writeFailedLine("/p.part", full),
    /^Disk full while writing "\/p.part"; free some space/,
  );
  assert.ok(!isDiskFull(new Error("Permission denied (os error 13)")));
  assert.match(
    writeFailedLine("/p.part", new Error("Permission denied")),
    /^Cannot write "\/p.part": Permission denied/,
  );
});

Deno.test("parseContentRange and validatorOf", () => {
  assert.deepEqual(parseContentRange("bytes 100-199/200"), { start: 100, total: 200 });
  assert.deepEqual(parseContentRange("bytes 100-199/*"), { start: 100 });
  assert.equal(parseContentRange("bytes */200"), undefined);
  assert.equal(parseContentRange(null), undefined);
  assert.equal(validatorOf(new Headers({ etag: '"abc"', "last-modified": "Mon" })), "Mon");
  assert.equal(validatorOf(new Headers({ etag: '"abc"' })), '"abc"');
  assert.equal(validatorOf(new Headers({ etag: 'W/"abc"' })), undefined);
  assert.equal(validatorOf(new Headers()), undefined);
});

Deno.test("lastPercent reads qemu-img -p output", () => {
  assert.equal(lastPercent("    (0.00/100%)\r    (1.01/100%)\r"), 1.01);
  assert.equal(lastPercent("    (100.00/100%)\r\n"), 100);
  assert.equal(lastPercent("nothing"), undefined);
});

Deno.test("parseHead and requestText (the HTTP/1.1 client's text)", () => {
  const h = parseHead(
    "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 5-9/10\r\nX-A: 1\r\nx-a: 2",
  );
  assert.equal(h?.status, 206);
  assert.equal(h?.statusText, "Partial Content");
  assert.equal(h?.headers.get("content-range"), "bytes 5-9/10");
  assert.equal(h?.headers.get("x-a"), "1, 2");
  assert.equal(parseHead("HTTP/1.0 404")?.status, 404);
  assert.equal(parseHead("SSH-2.0-OpenSSH"), undefined);
  assert.equal(
    requestText(new URL("https://[::1]:8443/a/b.img?x=1"), { range: "bytes=5-" }),
    "GET /a/b.img?x=1 HTTP/1.1\r\nHost: [::1]:8443\r\nUser-Agent: vm-image-pull\r\nAccept: */*\r\n" +
      "Accept-Encoding: identity\r\nConnection: close\r\nrange: bytes=5-\r\n\r\n",
  );
});

Deno.test("usesProxy reads http(s)_proxy, all_proxy and no_proxy as fetch does", () => {
  const u = new URL("https://cloud.debian.org/x");
  assert.equal(usesProxy(u, {}), false);
  assert.equal(usesProxy(u, { HTTPS_PROXY: "http://p:3128" }), true);
  assert.equal(usesProxy(u, { http_proxy: "http://p:3128" }), false);
  assert.equal(usesProxy(new URL("http://x/y"), { http_proxy: "http://p:3128" }), true);
  assert.equal(usesProxy(u, { ALL_PROXY: "socks5://p" }), true);
  assert.equal(usesProxy(u, { HTTPS_PROXY: "http://p", NO_PROXY: ".debian.org" }), false);
  assert.equal(usesProxy(u, { HTTPS_PROXY: "http://p", no_proxy: "example.com, *" }), false);
  assert.equal(usesProxy(u, { HTTPS_PROXY: "http://p", NO_PROXY: "ian.org" }), true);
});
