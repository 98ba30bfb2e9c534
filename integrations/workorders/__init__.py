"""Work-order service: residents' reports turned into dispatched work orders (工单)."""
