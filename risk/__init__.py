"""Pre-trade risk: limits, checks and the chain every order passes.

How the gateway core uses it (all calls from the event-loop thread)::

    engine = RiskEngine.load(limits_path, clock, audit_log_path)   # LimitsFileError: refuse to start
    denial = engine.check_and_commit_new(order, now_ns)  # None: send it (already counted); Denial: OrderRejected
    engine.on_order_opened(order)                     # after the venue write
    engine.on_execution(order, qty, price)            # after apply_fill
    engine.on_open_changed(order, prev_leaves, prev_price)
        # after a cancel, replace, venue reject, a refused replace, or a gateway-side refusal of an
        # order risk had approved (its exposure was reserved at approval)
    engine.check_replace(order, qty, price, now_ns) / engine.check_cancel(order, now_ns)
    engine.count_cancels(account, strategy, symbol, count, now_ns)  # a MassCancel's Cancels: counted, never refused
    if engine.file_changed(): engine.reload("file changed on disk", "file watch")   # 1 s timer
    engine.reload("SIGHUP" | "gateway risk reload", who) -> ReloadResult     # never raises
    engine.halt(account=None, who=..., reason=...)    # kill switch; the core mass-cancels
    engine.status() -> dict                           # for `gateway status`

Modules: ``model`` (the YAML schema), ``loader`` / ``limitsfile`` (validation with line and
column), ``resolve`` (how scopes combine), ``checks`` (the checks), ``exposure`` /
``throttle`` / ``duplicates`` / ``reference`` (state), ``engine`` (``RiskEngine``),
``audit`` (the audit log), ``diff`` (field-by-field changes), ``codes`` (reason codes).
"""

from obs.native import native_path

__path__ = native_path(__name__, __path__)
