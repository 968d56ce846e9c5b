"""Invoking AI gateway endpoints on a ``dynamodb://`` store: the wiring that lets MLflow's
server gateway routes (``mlflow/server/gateway_api.py``) use this store. The store side is
``stores/tracking/gateway_config_ops.py``; see docs/ai-gateway.md. (Unrelated to the
package's ``gateway/``, the DynamoDB table gateway.)"""
