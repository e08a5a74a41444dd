-- Orders per product and side, with the size filled and fees paid (DRY_RUN lists planned ones).
-- UNNEST of an array of structs gives one column per struct field, in the table's order.
SELECT
    mode,
    product_id,
    side,
    count(*) AS orders,
    sum(CAST(filled_size AS DECIMAL(38, 18))) AS filled_size,
    sum(CAST(fees AS DECIMAL(38, 18))) AS fees
FROM trader247_dev.audit
CROSS JOIN UNNEST(orders.placed) AS placed (
    client_order_id, order_id, product_id, side, intent, type, status, base_size, quote_size,
    limit_price, filled_size, average_filled_price, fees, failure_reason
)
WHERE record_type IS NULL
GROUP BY mode, product_id, side
ORDER BY orders DESC;
