/**
 * HTTPS to a server whose certificate must chain to one pinned CA (the fleet CA from a
 * provisioning token): nothing else is trusted, not even the system's CAs.
 * @module
 */

/** A JSON reply: status and parsed body (null when the body is not JSON). */
export interface JsonReply {
  /** HTTP status. */
  status: number;
  /** Parsed JSON body, or null. */
  body: unknown;
}

/** The PinnedHttps port: POSTs JSON to servers verified against one CA. */
export interface PinnedHttps {
  /**
   * POSTs `body` as JSON. Rejects when the server cannot be reached or its certificate does not
   * chain to the pinned CA (nothing is sent then: TLS fails before the request).
   */
  postJson(url: string, body: unknown, headers?: Record<string, string>): Promise<JsonReply>;
  /** Releases the connection pool. */
  close(): void;
}

/**
 * The Deno implementation over fetch with a client that trusts only `caPem`.
 *
 * @param caPem the one CA certificate to trust, PEM
 * @param timeoutMs per-request timeout
 * @returns the client
 */
export function createPinnedHttps(caPem: string, timeoutMs = 30_000): PinnedHttps {
  const client = Deno.createHttpClient({ caCerts: [caPem] });
  return {
    async postJson(url, body, headers = {}) {
      const res = await fetch(url, {
        method: "POST",
        client,
        headers: { "content-type": "application/json", ...headers },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(timeoutMs),
      });
      const text = await res.text();
      let parsed: unknown = null;
      try {
        parsed = JSON.parse(text);
      } catch {
        // not JSON: the caller reports the status
      }
      return { status: res.status, body: parsed };
    },
    close: () => client.close(),
  };
}
