"""The service catalogue: the knowledge base's YAML files (`knowledge_base/`) read, checked and kept current."""
