"""Precompiled order-message templates (the hot path).

For one dialect and CompID pair, each message type is compiled once into a ``bytes``
%-format holding every static field (BeginString aside: it is prepended with the
BodyLength). Encoding an order is then one ``%`` with a fixed-arity tuple, one
concatenation and one checksum, with no per-field branching. Values that depend on
the dialect (Account, per-order custom tags) are precomputed byte chunks cached per
distinct value.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from model.enums import OrderType
from model.order import Order
from model.venue_events import EVENT_MAX_ID
from venues.fix.codec import checksum_prefix, format_price
from venues.fix.dialect import AccountSource, Dialect

_NO_PRICE_TYPES: Final = frozenset({OrderType.MARKET})


def _field(tag: str | bytes, value: str | bytes) -> bytes:
    tag_b = tag.encode() if isinstance(tag, str) else tag
    value_b = value.encode() if isinstance(value, str) else value
    return tag_b + b"=" + value_b + b"\x01"


def _order_id_field(venue_order_id: str) -> bytes:
    """Return OrderID (37) with the venue's id of the order, or nothing: none yet, or one longer than
    ``EVENT_MAX_ID`` the gateway holds in its bounded form, not as the venue sent it (texts56). OrderID is optional in
    OrderCancelRequest, OrderCancelReplaceRequest and OrderStatusRequest: OrigClOrdID / ClOrdID name the order."""
    if not venue_order_id or len(venue_order_id) > EVENT_MAX_ID:
        return b""
    return b"37=" + venue_order_id.encode() + b"\x01"


def _escape(static: bytes) -> bytes:
    """Escape ``%`` in static bytes that go into a %-format."""
    return static.replace(b"%", b"%%")


class OrderTemplates:
    """Encoders for NewOrderSingle (D), OrderCancelRequest (F), OrderCancelReplaceRequest (G) and
    OrderStatusRequest (H)."""

    def __init__(self, dialect: Dialect, sender_comp_id: str, target_comp_id: str) -> None:
        self.dialect = dialect
        orders = dialect.orders
        self._head = b"8=" + dialect.begin_bytes + b"\x019=%d\x01"
        comp = _escape(_field("49", sender_comp_id) + _field("56", target_comp_id))
        stamp = b"34=%d\x0152=%b\x01"
        self.tif = dialect.time_in_force_map()
        self.ord_types = dialect.order_type_map()
        self.sides = dialect.side_map()
        handl = _field("21", orders.handl_inst) if orders.handl_inst else b""
        ex_dest = _field("100", orders.ex_destination) if orders.ex_destination else b""
        statics = b"".join(_field(tag, value) for tag, value in orders.static_fields.items())
        self._order_fields: tuple[tuple[bytes, str], ...] = tuple(
            (tag.encode(), source.value) for tag, source in orders.order_fields.items()
        )
        """(tag, the ``Order`` attribute it carries): the name read once, not an enum ``value`` per order."""
        tail = _escape(handl + ex_dest)
        body_statics = _escape(statics)
        # NewOrderSingle, limit and priceless variants.
        new_core = b"35=D\x01" + comp + stamp + b"11=%b\x01%b" + tail + b"55=%b\x0154=%b\x0138=%d\x0140=%b\x01"
        self._new_limit = new_core + b"44=%b\x0159=%b\x0160=%b\x01" + body_statics + b"%b"
        self._new_market = new_core + b"59=%b\x0160=%b\x01" + body_statics + b"%b"
        # OrderCancelReplaceRequest.
        replace_core = (
            b"35=G\x01" + comp + stamp + b"41=%b\x0111=%b\x01%b%b" + tail + b"55=%b\x0154=%b\x0138=%d\x0140=%b\x01"
        )
        self._replace_limit = replace_core + b"44=%b\x0159=%b\x0160=%b\x01" + body_statics + b"%b"
        self._replace_market = replace_core + b"59=%b\x0160=%b\x01" + body_statics + b"%b"
        # OrderCancelRequest.
        qty = b"38=%d\x01" if orders.cancel_includes_qty else b""
        self._cancel = b"35=F\x01" + comp + stamp + b"41=%b\x0111=%b\x01%b%b55=%b\x0154=%b\x01" + qty + b"60=%b\x01"
        self._cancel_has_qty = bool(qty)
        # OrderStatusRequest (not the hot path: asked only about a request whose outcome is unknown).
        self._status = b"35=H\x01" + comp + stamp + b"%b11=%b\x0155=%b\x0154=%b\x01"
        self._accounts: dict[str, bytes] = {}
        self._symbols: dict[str, bytes] = {}
        self._account_of = self._account_function(dialect)

    # ---- value caches ---------------------------------------------------------------------

    @staticmethod
    def _account_function(dialect: Dialect) -> Callable[[str], bytes | None]:
        account = dialect.orders.account
        if account.source is AccountSource.NONE:
            return lambda _: b""
        if account.source is AccountSource.FIXED:
            fixed = _field("1", account.value)
            return lambda _: fixed
        if account.source is AccountSource.MAP:
            mapped = {k: _field("1", v) for k, v in account.map.items()}
            return mapped.get
        return lambda name: _field("1", name)

    def account_field(self, account: str) -> bytes | None:
        """Return the ``1=...`` chunk for a gateway account, or None if it cannot be sent."""
        chunk = self._accounts.get(account)
        if chunk is None:
            chunk = self._account_of(account)
            if chunk is None:
                return None
            self._accounts[account] = chunk
        return chunk

    def _symbol(self, symbol: str) -> bytes:
        encoded = self._symbols.get(symbol)
        if encoded is None:
            encoded = self._symbols[symbol] = symbol.encode()
        return encoded

    def _extras(self, order: Order) -> bytes:
        if not self._order_fields:
            return b""
        return b"".join(
            tag + b"=" + str(getattr(order, attribute)).encode() + b"\x01" for tag, attribute in self._order_fields
        )

    def _finish(self, body: bytes) -> bytes:
        msg = self._head % len(body) + body
        return msg + b"10=%03d\x01" % checksum_prefix(msg, len(msg))

    # ---- encoders -------------------------------------------------------------------------

    def new_order(self, seq: int, stamp: bytes, cl_ord_id: bytes, order: Order) -> bytes:
        """Encode a NewOrderSingle for ``order`` (validated by ``check_order`` beforehand)."""
        account = self._accounts.get(order.account)
        if account is None:
            account = self.account_field(order.account) or b""
        if order.ord_type in _NO_PRICE_TYPES:
            body = self._new_market % (
                seq,
                stamp,
                cl_ord_id,
                account,
                self._symbol(order.symbol),
                self.sides[order.side],
                order.qty,
                self.ord_types[order.ord_type],
                self.tif[order.tif],
                stamp,
                self._extras(order),
            )
        else:
            body = self._new_limit % (
                seq,
                stamp,
                cl_ord_id,
                account,
                self._symbol(order.symbol),
                self.sides[order.side],
                order.qty,
                self.ord_types[order.ord_type],
                format_price(order.price),
                self.tif[order.tif],
                stamp,
                self._extras(order),
            )
        return self._finish(body)

    def replace(
        self,
        seq: int,
        stamp: bytes,
        orig_cl_ord_id: bytes,
        cl_ord_id: bytes,
        order: Order,
        *,
        qty: int,
        price: int,
    ) -> bytes:
        """Encode an OrderCancelReplaceRequest of ``order`` to total ``qty`` at ``price``."""
        account = self.account_field(order.account) or b""
        order_id = _order_id_field(order.venue_order_id)
        if order.ord_type in _NO_PRICE_TYPES:
            body = self._replace_market % (
                seq,
                stamp,
                orig_cl_ord_id,
                cl_ord_id,
                account,
                order_id,
                self._symbol(order.symbol),
                self.sides[order.side],
                qty,
                self.ord_types[order.ord_type],
                self.tif[order.tif],
                stamp,
                self._extras(order),
            )
        else:
            body = self._replace_limit % (
                seq,
                stamp,
                orig_cl_ord_id,
                cl_ord_id,
                account,
                order_id,
                self._symbol(order.symbol),
                self.sides[order.side],
                qty,
                self.ord_types[order.ord_type],
                format_price(price),
                self.tif[order.tif],
                stamp,
                self._extras(order),
            )
        return self._finish(body)

    def status_request(self, seq: int, stamp: bytes, cl_ord_id: bytes, order: Order) -> bytes:
        """Encode an OrderStatusRequest (35=H) for the order the venue may know as ``cl_ord_id``."""
        order_id = _order_id_field(order.venue_order_id)
        body = self._status % (seq, stamp, order_id, cl_ord_id, self._symbol(order.symbol), self.sides[order.side])
        return self._finish(body)

    def cancel(self, seq: int, stamp: bytes, orig_cl_ord_id: bytes, cl_ord_id: bytes, order: Order) -> bytes:
        """Encode an OrderCancelRequest for everything still open on ``order``."""
        account = self.account_field(order.account) or b""
        order_id = _order_id_field(order.venue_order_id)
        args: tuple[object, ...] = (
            seq,
            stamp,
            orig_cl_ord_id,
            cl_ord_id,
            account,
            order_id,
            self._symbol(order.symbol),
            self.sides[order.side],
        )
        args = (*args, order.qty, stamp) if self._cancel_has_qty else (*args, stamp)
        return self._finish(self._cancel % args)
