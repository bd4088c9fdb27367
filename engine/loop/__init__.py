"""The closed loop 闭环 (docs/LOOP.md): feedback loading 营销反馈 and work orders 工单.

Reads stored runs and writes the loop's store tables (`feedback_event`, `work_order_event`);
the night reads them back through engine.store.loopback, the campaign report through
engine.outputs.reports.campaign.
"""
