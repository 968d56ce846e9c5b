"""Store facades implementing MLflow's abstract stores."""
