fn main() {
    yew::Renderer::<moodwing_web_ui::app::App>::new().render();
}
