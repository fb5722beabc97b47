"""The only way to WeChat: wechatpy clients built from configuration."""
