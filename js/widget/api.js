// @ts-check
/**
 * REST calls of the widget to the DAG Studio server: same origin, Jupyter's
 * cookie auth and XSRF header, errors as `ApiError` with the server's message.
 */
import { apiPath, xsrfToken } from "./live-state.js";

/**
 * An API answer that is not a success; `status` 0 when unreachable.
 * `reason` is the server's own message (or what went wrong), to show people.
 */
export class ApiError extends Error {
  /**
   * @param {number} status
   * @param {string} message
   * @param {string} [reason]
   */
  constructor(status, message, reason) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.reason = reason ?? message;
  }
}

/**
 * Return the text of the page's Jupyter config, or null outside Jupyter.
 * @param {Document} doc
 * @returns {string | null}
 */
export function pageConfigText(doc) {
  return doc.getElementById("jupyter-config-data")?.textContent ?? null;
}

/**
 * Return the server token the page itself uses, as JupyterLab's own
 * requests do; null when the page relies on its login cookie alone.
 * @param {Document} doc
 * @returns {string | null}
 */
function pageToken(doc) {
  const text = pageConfigText(doc);
  if (!text) return null;
  try {
    const token = JSON.parse(text)?.token;
    return typeof token === "string" && token !== "" ? token : null;
  } catch {
    return null;
  }
}

/**
 * Call the DAG Studio API on the page's own server and return the JSON
 * answer. Writes carry the `X-XSRFToken` header Jupyter checks.
 * @param {Document} doc
 * @param {string} base
 * @param {"GET" | "POST" | "DELETE"} method
 * @param {string[]} parts path segments under `dagstudio/api/`
 * @param {AbortSignal} [signal]
 * @param {Record<string, string | number>} [query] the query string's fields
 * @param {unknown} [body] sent as JSON
 * @returns {Promise<any>}
 */
export async function requestApi(
  doc,
  base,
  method,
  parts,
  signal,
  query,
  body,
) {
  /** @type {Record<string, string>} */
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const xsrf = xsrfToken(doc.cookie ?? "");
  if (method !== "GET" && xsrf) headers["X-XSRFToken"] = xsrf;
  const token = pageToken(doc);
  if (token) headers.Authorization = `token ${token}`;
  const where = `${method} ${parts.join("/")}`;
  let response;
  try {
    const search = query
      ? `?${new URLSearchParams(
          Object.entries(query).map(([key, value]) => [key, String(value)]),
        )}`
      : "";
    response = await fetch(`${apiPath(base, ...parts)}${search}`, {
      method,
      headers,
      credentials: "same-origin",
      cache: "no-store",
      signal,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (error) {
    if (signal?.aborted) throw error;
    throw new ApiError(
      0,
      `[dagstudio] ${where}: server unreachable`,
      "the server cannot be reached",
    );
  }
  const text = await response.text();
  let answer = null;
  try {
    answer = text ? JSON.parse(text) : null;
  } catch {
    answer = null;
  }
  if (!response.ok) {
    const reason = answer?.message || response.statusText || "request failed";
    throw new ApiError(
      response.status,
      `[dagstudio] ${where}: ${response.status} ${reason}`,
      String(reason),
    );
  }
  return answer;
}

/** The page's shared connections, by base URL. */
