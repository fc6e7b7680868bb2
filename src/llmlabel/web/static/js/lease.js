// The review lease of the claimed item: the countdown in the side panel, renewing it,
// and stopping the clock once the item is decided.

import { api, serverNow } from "./api.js";
import { $, clock, toast } from "./dom.js";

/** Seconds left on `claim`'s lease by the server's clock (0 without a claim). */
export function leaseLeft(claim) {
  return claim ? (Date.parse(claim.lease_expires_at) - serverNow()) / 1000 : 0;
}

/** The lease clock of the page; `onExpired` runs once when a lease runs out. */
export function leaseClock(onExpired) {
  let timer = null;
  let held = null;

  function start(claim) {
    clearInterval(timer);
    held = claim;
    const tick = () => {
      const left = leaseLeft(held);
      const el = $("#lease-clock");
      el.textContent = clock(left);
      el.classList.toggle("warn", left < 60);
      if (left <= 0) {
        el.textContent = "expired";
        $("#lease-note").textContent = "The lease ran out and the item went back to the queue. Claim again.";
        $("#renew").disabled = true;
        clearInterval(timer);
        onExpired();
      }
    };
    $("#renew").disabled = false;
    $("#lease-note").textContent = `Held until ${new Date(claim.lease_expires_at).toLocaleTimeString()}.`;
    tick();
    timer = setInterval(tick, 1000);
  }

  /** Stop the clock; `text` replaces it ("done" after a decision). */
  function stop(text) {
    clearInterval(timer);
    if (text === undefined) return;
    $("#lease-clock").textContent = text;
    $("#lease-clock").classList.remove("warn");
    $("#renew").disabled = true;
    $("#lease-note").textContent = "";
  }

  /** Extend the lease of `claim` (updated in place) and restart the clock. */
  async function renew(claim) {
    try {
      const renewed = await api("POST", `/v1/review/items/${encodeURIComponent(claim.item_id)}/renew`,
        { lease_token: claim.lease_token });
      claim.lease_token = renewed.lease_token;
      claim.lease_expires_at = renewed.lease_expires_at;
      start(claim);
      toast("Lease renewed.");
    } catch (err) {
      toast(`Could not renew: ${err.message}`, "error");
    }
  }

  return { start, stop, renew };
}
