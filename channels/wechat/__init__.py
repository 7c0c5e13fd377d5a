"""The WeChat Official Account channel (公众号): messages at /wechat, answers passively or through the customer-service API."""
