"""The run command (``python -m local_cloud run``): the order mix, driving a batch through the
local cloud, the progress shown meanwhile, the report and its check against the vendor's books."""
