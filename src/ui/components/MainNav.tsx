// The studio's sections as links (#/train): real links, so middle-click and "copy link" work;
// a plain click goes through the store, which records the hash.
import { useEffect, useRef, type MouseEvent } from 'react';
import { hashForPage, useNavigationStore, type PageId } from '../../stores/navigation.js';
import { PAGE_ORDER, pageInfo } from '../pages/registry.js';
import './MainNav.css';

export function MainNav() {
  const current = useNavigationStore((s) => s.page);
  const navigate = useNavigationStore((s) => s.navigate);
  const listRef = useRef<HTMLOListElement>(null);

  // On narrow screens the list scrolls sideways: keep the current page's link in view.
  useEffect(() => {
    const list = listRef.current;
    const link = list?.querySelector<HTMLElement>('[aria-current="page"]');
    if (!list || !link) return;
    const left = link.offsetLeft - list.offsetLeft;
    if (left < list.scrollLeft || left + link.offsetWidth > list.scrollLeft + list.clientWidth) {
      list.scrollLeft = left - (list.clientWidth - link.offsetWidth) / 2;
    }
  }, [current]);

  const onClick = (event: MouseEvent<HTMLAnchorElement>, page: PageId) => {
    if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    navigate(page);
  };

  return (
    <nav className="main-nav" aria-label="Studio">
      <ol className="main-nav-list" ref={listRef}>
        {PAGE_ORDER.map((page, index) => {
          const { title, Icon } = pageInfo(page);
          const active = page === current;
          return (
            <li key={page}>
              <a
                href={hashForPage(page)}
                className="main-nav-link"
                data-testid={`nav-${page}`}
                aria-current={active ? 'page' : undefined}
                onClick={(event) => onClick(event, page)}
              >
                <Icon width={18} height={18} />
                <span className="main-nav-label">{title}</span>
                <span className="visually-hidden">, step {index + 1}</span>
              </a>
            </li>
          );
        })}
      </ol>
    </nav>
  );
}
