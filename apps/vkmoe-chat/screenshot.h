// The headless test mode's picture: the last frame drawn again into an offscreen image of the
// swapchain's size and format (swapchain images are not readable on every driver), read back
// and written as a PNG.
#pragma once
#include <string>

#include "apps/vkmoe-chat/vulkan_window.h"

namespace vkmoe {

void save_screenshot(VulkanWindow& vw, ImDrawData* draw_data, ImVec4 clear_color,
                     const std::string& path);

}  // namespace vkmoe
