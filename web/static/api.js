// The REST API client: every call carries the page's token and turns the server's
// `detail` into an ApiError the user sees.

import { toast } from "/static/alerts.js";

export class ApiError extends Error {
  constructor(status, detail) {
    super(detail);
    this.name = "ApiError";
    this.status = status;
    this.detail = detail;
  }
}

let apiToken = null;
let onUnauthorized = null;

/** Token sent with every API call and the socket (a session token or an officer's share link). */
export function useToken(token, { whenUnauthorized } = {}) {
  apiToken = token;
  onUnauthorized = whenUnauthorized || null;
}

/** The token given to useToken, for the video player's own requests. */
export function currentToken() {
  return apiToken;
}

function detailText(detail) {
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) {
    // pydantic's 422: [{loc: ["body", "priority"], msg: "..."}]
    return detail
      .map((d) => `${(d.loc || []).filter((p) => p !== "body").join(".")}: ${d.msg}`)
      .join("; ");
  }
  return detail == null ? "" : JSON.stringify(detail);
}

/**
 * Call the API; resolves to the parsed JSON (null for an empty body).
 * Rejects with ApiError carrying the server's `detail`, shown to the user unless `quiet`;
 * a 401 goes to useToken's `whenUnauthorized` instead, when one is set.
 */
export async function api(path, { method = "GET", body, quiet = false, keepalive = false } = {}) {
  const headers = { Accept: "application/json" };
  if (apiToken) headers.Authorization = `Bearer ${apiToken}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path, {
      method, headers, keepalive,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    const error = new ApiError(0, "the server cannot be reached");
    if (!quiet) toast(error.detail, "error");
    throw error;
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = text;
    }
  }
  if (!response.ok) {
    const detail = detailText(data && data.detail !== undefined ? data.detail : data)
      || `${response.status} ${response.statusText}`;
    const error = new ApiError(response.status, detail);
    if (response.status === 401 && onUnauthorized) onUnauthorized(error);
    else if (!quiet) toast(detail, "error");
    throw error;
  }
  return data;
}
